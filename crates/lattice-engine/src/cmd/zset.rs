//! Sorted-set commands (`t_zset.c`): ZADD/ZINCRBY with NX XX GT LT CH INCR,
//! removal, counts, scores and ranks, the unified ZRANGE (by rank, score or
//! lex, REV, LIMIT) and its legacy forms, ZRANGESTORE, range removal, the
//! ZUNION/ZINTER/ZDIFF family (plain sets count as score 1), ZINTERCARD,
//! pops (ZPOPMIN/MAX, ZMPOP and the blocking BZPOPMIN/MAX, BZMPOP),
//! ZRANDMEMBER and ZSCAN.
//!
//! Argument errors are checked in the order Redis checks them and carry its
//! exact texts. Numbers are read as C's
//! `strtod` reads them (hex floats, `inf`, overflow), since Redis does.
//!
//! Replies are built in their RESP3 shape: WITHSCORES lists are
//! [`Reply::Pairs`] (flattened by the server for RESP2). ZMPOP/BZMPOP nest
//! their `[member, score]` pairs in RESP2 too, so they are plain arrays.

use std::borrow::Cow;

use bytes::Bytes;
use indexmap::IndexMap;
use rand::Rng;

use super::flags::*;
use super::keys::{parse_cursor, scan_options};
use super::list::parse_timeout;
use super::{CommandSpec, Group};
use crate::effect::EventClass;
use crate::exec::Exec;
use crate::glob::glob_match;
use crate::keyspace::{Db, FastHasher};
use crate::number::{arg_i64, c_str, format_double, parse_f64, parse_i64, strtod};
use crate::types::set::{Member, SetValue};
use crate::types::zset::{cmp_elements, LexBound, LexRange, Limits, ScoreRange, ZSetValue};
use crate::value::Value;
use crate::{CmdError, Reply};

type R = Result<Reply, CmdError>;

/// Largest reply ZRANDMEMBER builds for a negative count. Redis streams
/// such replies (and dies of OOM on absurd counts); the engine builds them
/// in memory, so it refuses beyond this instead.
const RANDMEMBER_MAX_REPLY: u64 = 1 << 22;

const NAN_ERR: &str = "resulting score is not a number (NaN)";

fn arg(args: &[Bytes], i: usize) -> &[u8] {
    args.get(i).map_or(&[][..], |b| &b[..])
}

fn limits(ex: &Exec<'_>) -> Limits {
    Limits {
        entries: ex.config.zset_max_listpack_entries,
        value: ex.config.zset_max_listpack_value,
    }
}

/// Marks `key` modified by `n` changes (Redis bumps `dirty` per element).
fn mark(ex: &mut Exec<'_>, key: &[u8], n: usize) {
    ex.modified(key);
    ex.stats.dirty += (n as u64).saturating_sub(1);
}

/// One end of a score range (`zslParseRange`): `(` for exclusive, then
/// anything `strtod` consumes entirely (blanks first, hex, an empty string
/// is 0) except NaN.
fn parse_score_item(s: &[u8]) -> Option<(f64, bool)> {
    let s = c_str(s);
    let (body, ex) = match s.split_first() {
        Some((b'(', rest)) => (rest, true),
        _ => (s, false),
    };
    let r = strtod(body);
    if r.used != body.len() || r.value.is_nan() {
        return None;
    }
    Some((r.value, ex))
}

fn parse_score_range(min: &[u8], max: &[u8]) -> Result<ScoreRange, CmdError> {
    let bad = || CmdError::err("min or max is not a float");
    let (min, minex) = parse_score_item(min).ok_or_else(bad)?;
    let (max, maxex) = parse_score_item(max).ok_or_else(bad)?;
    Ok(ScoreRange {
        min,
        max,
        minex,
        maxex,
    })
}

/// One end of a lex range: `-`, `+`, `[member` or `(member`.
fn parse_lex_item(s: &[u8]) -> Option<LexBound> {
    let alone = s.get(1).is_none_or(|&c| c == 0);
    match s.split_first()? {
        (b'+', _) if alone => Some(LexBound::PosInf),
        (b'-', _) if alone => Some(LexBound::NegInf),
        (b'(', rest) => Some(LexBound::Excl(rest.to_vec())),
        (b'[', rest) => Some(LexBound::Incl(rest.to_vec())),
        _ => None,
    }
}

fn parse_lex_range(min: &[u8], max: &[u8]) -> Result<LexRange, CmdError> {
    let bad = || CmdError::err("min or max not valid string range item");
    let min = parse_lex_item(min).ok_or_else(bad)?;
    let max = parse_lex_item(max).ok_or_else(bad)?;
    Ok(LexRange { min, max })
}

/// An integer in `[min, i64::MAX]`, else `ERR <msg>` (also for non-integers,
/// as `getRangeLongFromObjectOrReply` with a message).
fn range_long(s: &[u8], min: i64, msg: &str) -> Result<i64, CmdError> {
    match parse_i64(s) {
        Some(v) if v >= min => Ok(v),
        _ => Err(CmdError::err(msg)),
    }
}

// ---------------------------------------------------------------------------
// Replies.

fn pair(m: &[u8], s: f64) -> (Reply, Reply) {
    (Reply::bulk(m), Reply::Double(s))
}

fn elements_reply(items: &[(&[u8], f64)], withscores: bool) -> Reply {
    if withscores {
        Reply::Pairs(items.iter().map(|(m, s)| pair(m, *s)).collect())
    } else {
        Reply::Array(items.iter().map(|(m, _)| Reply::bulk(m)).collect())
    }
}

fn owned_reply(items: &[(Vec<u8>, f64)], withscores: bool) -> Reply {
    let view: Vec<(&[u8], f64)> = items.iter().map(|(m, s)| (&m[..], *s)).collect();
    elements_reply(&view, withscores)
}

// ---------------------------------------------------------------------------
// ZADD, ZINCRBY, ZREM.

fn zadd_generic(ex: &mut Exec<'_>, args: &[Bytes], incr_cmd: bool) -> R {
    let key = arg(args, 1);
    let (mut nx, mut xx, mut gt, mut lt, mut ch, mut incr) =
        (false, false, false, false, false, incr_cmd);
    let mut i = 2;
    while i < args.len() {
        match arg(args, i).to_ascii_lowercase().as_slice() {
            b"nx" => nx = true,
            b"xx" => xx = true,
            b"ch" => ch = true,
            b"incr" => incr = true,
            b"gt" => gt = true,
            b"lt" => lt = true,
            _ => break,
        }
        i += 1;
    }
    let elements = args.len() - i;
    if elements % 2 == 1 || elements == 0 {
        return Err(CmdError::Syntax);
    }
    if nx && xx {
        return Err(CmdError::err(
            "XX and NX options at the same time are not compatible",
        ));
    }
    if (nx && (gt || lt)) || (gt && lt) {
        return Err(CmdError::err(
            "GT, LT, and/or NX options at the same time are not compatible",
        ));
    }
    if incr && elements > 2 {
        return Err(CmdError::err(
            "INCR option supports a single increment-element pair",
        ));
    }
    let mut pairs = Vec::with_capacity(elements / 2);
    for p in args.get(i..).unwrap_or(&[]).chunks(2) {
        let (Some(score), Some(member)) = (p.first(), p.get(1)) else {
            return Err(CmdError::Syntax);
        };
        pairs.push((parse_f64(score).ok_or(CmdError::NotFloat)?, member));
    }
    let lim = limits(ex);
    let exists = ex.write_zset(key)?.is_some();
    let nothing = if incr { Reply::Nil } else { Reply::Int(0) };
    if !exists && xx {
        return Ok(nothing);
    }
    let z = ex.zset_or_create(key)?;
    let (mut added, mut updated, mut processed) = (0usize, 0usize, 0usize);
    let mut last = 0.0;
    let mut failed = false;
    for (score, member) in pairs {
        match z.score(member) {
            Some(cur) => {
                if nx {
                    continue;
                }
                let mut s = score;
                if incr {
                    s += cur;
                    if s.is_nan() {
                        failed = true;
                        break;
                    }
                }
                if (lt && s >= cur) || (gt && s <= cur) {
                    continue;
                }
                processed += 1;
                last = s;
                if s != cur {
                    z.insert(member, s, lim);
                    updated += 1;
                }
            }
            None => {
                if xx {
                    continue;
                }
                z.insert(member, score, lim);
                added += 1;
                processed += 1;
                last = score;
            }
        }
    }
    if z.is_empty() {
        // Only a failed first element can leave a just-created set empty.
        ex.db_mut().remove(key);
    }
    if added + updated > 0 {
        ex.notify(EventClass::ZSet, if incr { "zincr" } else { "zadd" }, key);
        mark(ex, key, added + updated);
    }
    if added > 0 {
        ex.key_ready(key);
    }
    if failed {
        return Err(CmdError::err(NAN_ERR));
    }
    Ok(if incr {
        if processed > 0 {
            Reply::Double(last)
        } else {
            Reply::Nil
        }
    } else if ch {
        Reply::Int((added + updated) as i64)
    } else {
        Reply::Int(added as i64)
    })
}

fn zadd(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    zadd_generic(ex, args, false)
}

fn zincrby(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    zadd_generic(ex, args, true)
}

fn zrem(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let key = arg(args, 1);
    let Some(z) = ex.write_zset(key)? else {
        return Ok(Reply::Int(0));
    };
    let mut deleted = 0usize;
    for m in args.iter().skip(2) {
        if z.remove(m).is_some() {
            deleted += 1;
        }
        if z.is_empty() {
            break;
        }
    }
    if deleted > 0 {
        ex.notify(EventClass::ZSet, "zrem", key);
        mark(ex, key, deleted);
        ex.delete_if_empty(key);
    }
    Ok(Reply::Int(deleted as i64))
}

// ---------------------------------------------------------------------------
// Reads of one set.

fn zcard(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    Ok(Reply::Int(
        ex.read_zset(arg(args, 1))?.map_or(0, |z| z.len() as i64),
    ))
}

fn zscore(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let Some(z) = ex.read_zset(arg(args, 1))? else {
        return Ok(Reply::Nil);
    };
    Ok(z.score(arg(args, 2)).map_or(Reply::Nil, Reply::Double))
}

fn zmscore(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let z = ex.read_zset(arg(args, 1))?;
    let out = args
        .iter()
        .skip(2)
        .map(|m| z.and_then(|z| z.score(m)).map_or(Reply::Nil, Reply::Double))
        .collect();
    Ok(Reply::Array(out))
}

fn zrank_generic(ex: &mut Exec<'_>, args: &[Bytes], rev: bool) -> R {
    let Some(z) = ex.read_zset(arg(args, 1))? else {
        return Ok(Reply::Nil);
    };
    let len = z.len();
    Ok(match z.rank(arg(args, 2)) {
        Some((r, _)) => {
            let r = if rev { len - 1 - r } else { r };
            Reply::Int(r as i64)
        }
        None => Reply::Nil,
    })
}

fn zrank(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    zrank_generic(ex, args, false)
}

fn zrevrank(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    zrank_generic(ex, args, true)
}

fn zcount(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let r = parse_score_range(arg(args, 2), arg(args, 3))?;
    let Some(z) = ex.read_zset(arg(args, 1))? else {
        return Ok(Reply::Int(0));
    };
    Ok(Reply::Int(z.score_range(&r).count() as i64))
}

fn zlexcount(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let r = parse_lex_range(arg(args, 2), arg(args, 3))?;
    let Some(z) = ex.read_zset(arg(args, 1))? else {
        return Ok(Reply::Int(0));
    };
    Ok(Reply::Int(z.lex_count(&r) as i64))
}

// ---------------------------------------------------------------------------
// ZRANGE and friends.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Auto,
    Rank,
    Score,
    Lex,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dir {
    Auto,
    Fwd,
    Rev,
}

#[derive(Debug, Clone, PartialEq)]
enum Sel {
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexRange),
}

/// A parsed range request (`zrangeGenericCommand`'s options).
#[derive(Debug, Clone, PartialEq)]
struct RangeReq {
    sel: Sel,
    rev: bool,
    withscores: bool,
    offset: i64,
    /// Negative: no limit.
    limit: i64,
}

/// Parses `<src> <min> <max> [BYSCORE|BYLEX] [REV] [WITHSCORES] [LIMIT o c]`
/// with `src` the index of the source key.
fn parse_range(
    args: &[Bytes],
    src: usize,
    store: bool,
    mut kind: Kind,
    mut dir: Dir,
) -> Result<RangeReq, CmdError> {
    let mut withscores = false;
    let (mut offset, mut limit) = (0i64, -1i64);
    let mut j = src + 3;
    while j < args.len() {
        let left = args.len() - j - 1;
        let a = arg(args, j);
        if !store && a.eq_ignore_ascii_case(b"withscores") {
            withscores = true;
        } else if a.eq_ignore_ascii_case(b"limit") && left >= 2 {
            offset = arg_i64(arg(args, j + 1))?;
            limit = arg_i64(arg(args, j + 2))?;
            j += 2;
        } else if dir == Dir::Auto && a.eq_ignore_ascii_case(b"rev") {
            dir = Dir::Rev;
        } else if kind == Kind::Auto && a.eq_ignore_ascii_case(b"bylex") {
            kind = Kind::Lex;
        } else if kind == Kind::Auto && a.eq_ignore_ascii_case(b"byscore") {
            kind = Kind::Score;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    let rev = dir == Dir::Rev;
    if kind == Kind::Auto {
        kind = Kind::Rank;
    }
    if limit != -1 && kind == Kind::Rank {
        return Err(CmdError::err(
            "syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if withscores && kind == Kind::Lex {
        return Err(CmdError::err(
            "syntax error, WITHSCORES not supported in combination with BYLEX",
        ));
    }
    let (mut lo, mut hi) = (arg(args, src + 1), arg(args, src + 2));
    if rev && kind != Kind::Rank {
        // REV with BYSCORE/BYLEX takes the range as <max> <min>.
        std::mem::swap(&mut lo, &mut hi);
    }
    let sel = match kind {
        Kind::Score => Sel::Score(parse_score_range(lo, hi)?),
        Kind::Lex => Sel::Lex(parse_lex_range(lo, hi)?),
        Kind::Auto | Kind::Rank => Sel::Rank(arg_i64(lo)?, arg_i64(hi)?),
    };
    Ok(RangeReq {
        sel,
        rev,
        withscores,
        offset,
        limit,
    })
}

/// Clamps a rank range as Redis does; `None` when empty.
fn rank_span(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let llen = len as i64;
    let mut start = if start < 0 { start + llen } else { start };
    let mut end = if end < 0 { end + llen } else { end };
    if start < 0 {
        start = 0;
    }
    if start > end || start >= llen {
        return None;
    }
    if end >= llen {
        end = llen - 1;
    }
    Some((start as usize, (end - start + 1) as usize))
}

/// The elements a range request selects, in reply order.
fn select<'a>(z: &'a ZSetValue, req: &RangeReq) -> Vec<(&'a [u8], f64)> {
    let limit = usize::try_from(req.limit).ok();
    match &req.sel {
        Sel::Rank(start, end) => match rank_span(*start, *end, z.len()) {
            Some((from, n)) => z.iter().directed(req.rev).skip(from).take(n).collect(),
            None => Vec::new(),
        },
        // A negative offset walks off the end in Redis: nothing is returned.
        Sel::Score(r) => match usize::try_from(req.offset) {
            Ok(off) => z.score_select(r, req.rev, off, limit),
            Err(_) => Vec::new(),
        },
        Sel::Lex(r) => match usize::try_from(req.offset) {
            Ok(off) => z.lex_select(r, req.rev, off, limit),
            Err(_) => Vec::new(),
        },
    }
}

fn range_generic(ex: &mut Exec<'_>, args: &[Bytes], kind: Kind, dir: Dir) -> R {
    let req = parse_range(args, 1, false, kind, dir)?;
    let Some(z) = ex.read_zset(arg(args, 1))? else {
        return Ok(Reply::Array(Vec::new()));
    };
    Ok(elements_reply(&select(z, &req), req.withscores))
}

fn zrange(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    range_generic(ex, args, Kind::Auto, Dir::Auto)
}

fn zrevrange(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    range_generic(ex, args, Kind::Rank, Dir::Rev)
}

fn zrangebyscore(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    range_generic(ex, args, Kind::Score, Dir::Fwd)
}

fn zrevrangebyscore(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    range_generic(ex, args, Kind::Score, Dir::Rev)
}

fn zrangebylex(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    range_generic(ex, args, Kind::Lex, Dir::Fwd)
}

fn zrevrangebylex(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    range_generic(ex, args, Kind::Lex, Dir::Rev)
}

/// Stores `items` (any order, distinct members) at `dst` as a new sorted
/// set, or deletes `dst` when empty; replies with the stored cardinality.
fn store_result(
    ex: &mut Exec<'_>,
    dst: &[u8],
    mut items: Vec<(Vec<u8>, f64)>,
    event: &'static str,
) -> Reply {
    if items.is_empty() {
        if ex.delete(dst) {
            ex.notify(EventClass::Generic, "del", dst);
        }
        return Reply::Int(0);
    }
    items.sort_by(|a, b| cmp_elements((&a.0[..], a.1), (&b.0[..], b.1)));
    let n = items.len();
    let z = ZSetValue::from_sorted(items, limits(ex));
    ex.set_key(dst, Value::ZSet(Box::new(z)), false);
    ex.notify(EventClass::ZSet, event, dst);
    ex.key_ready(dst);
    Reply::Int(n as i64)
}

fn zrangestore(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let req = parse_range(args, 2, true, Kind::Auto, Dir::Auto)?;
    let mut items: Vec<(Vec<u8>, f64)> = match ex.read_zset(arg(args, 2))? {
        Some(z) => select(z, &req)
            .into_iter()
            .map(|(m, s)| (m.to_vec(), s))
            .collect(),
        None => Vec::new(),
    };
    // Redis adds the range one by one to a listpack that converts when it
    // outgrows the limits; members added before that lose the sign of -0
    // (see `lp_score_text`), later ones keep it.
    let lim = limits(ex);
    for (i, (m, s)) in items.iter_mut().enumerate() {
        if i >= lim.entries || m.len() > lim.value {
            break;
        }
        if *s == 0.0 && s.is_sign_negative() {
            *s = 0.0;
        }
    }
    Ok(store_result(ex, arg(args, 1), items, "zrangestore"))
}

// ---------------------------------------------------------------------------
// ZREMRANGEBY*.

fn zremrange(ex: &mut Exec<'_>, args: &[Bytes], kind: Kind) -> R {
    let key = arg(args, 1);
    let (lo, hi) = (arg(args, 2), arg(args, 3));
    let (sel, event) = match kind {
        Kind::Score => (Sel::Score(parse_score_range(lo, hi)?), "zremrangebyscore"),
        Kind::Lex => (Sel::Lex(parse_lex_range(lo, hi)?), "zremrangebylex"),
        Kind::Auto | Kind::Rank => (Sel::Rank(arg_i64(lo)?, arg_i64(hi)?), "zremrangebyrank"),
    };
    let Some(z) = ex.write_zset(key)? else {
        return Ok(Reply::Int(0));
    };
    let req = RangeReq {
        sel,
        rev: false,
        withscores: false,
        offset: 0,
        limit: -1,
    };
    let doomed: Vec<Vec<u8>> = match &req.sel {
        Sel::Lex(r) => z.lex_delete_select(r),
        _ => select(z, &req),
    }
    .into_iter()
    .map(|(m, _)| m.to_vec())
    .collect();
    for m in &doomed {
        z.remove(m);
    }
    let n = doomed.len();
    if n > 0 {
        mark(ex, key, n);
        ex.notify(EventClass::ZSet, event, key);
        ex.delete_if_empty(key);
    }
    Ok(Reply::Int(n as i64))
}

fn zremrangebyrank(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    zremrange(ex, args, Kind::Rank)
}

fn zremrangebyscore(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    zremrange(ex, args, Kind::Score)
}

fn zremrangebylex(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    zremrange(ex, args, Kind::Lex)
}

// ---------------------------------------------------------------------------
// ZUNION, ZINTER, ZDIFF (+STORE), ZINTERCARD.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetOp {
    Union,
    Inter,
    Diff,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Agg {
    Sum,
    Min,
    Max,
}

/// `zunionInterAggregate`: an inf + -inf sum counts as 0.
fn aggregate(target: &mut f64, val: f64, agg: Agg) {
    match agg {
        Agg::Sum => {
            *target += val;
            if target.is_nan() {
                *target = 0.0;
            }
        }
        Agg::Min => {
            if val < *target {
                *target = val;
            }
        }
        Agg::Max => {
            if val > *target {
                *target = val;
            }
        }
    }
}

/// One input of a set operation.
#[derive(Clone, Copy)]
enum Src<'a> {
    Missing,
    Z(&'a ZSetValue),
    S(&'a SetValue),
}

impl<'a> Src<'a> {
    fn len(self) -> usize {
        match self {
            Src::Missing => 0,
            Src::Z(z) => z.len(),
            Src::S(s) => s.len(),
        }
    }

    /// Members with scores (1 for plain sets); sorted sets from the highest
    /// down, the order Redis walks them in.
    fn items(self) -> Vec<(Cow<'a, [u8]>, f64)> {
        match self {
            Src::Missing => Vec::new(),
            Src::Z(z) => z.iter().rev().map(|(m, s)| (Cow::Borrowed(m), s)).collect(),
            Src::S(set) => set
                .iter()
                .map(|m| match m {
                    Member::Bytes(b) => (Cow::Borrowed(b), 1.0),
                    Member::Int(_) => (Cow::Owned(m.to_vec()), 1.0),
                })
                .collect(),
        }
    }

    fn find(self, m: &[u8]) -> Option<f64> {
        match self {
            Src::Missing => None,
            Src::Z(z) => z.score(m),
            Src::S(set) => set.contains(m).then_some(1.0),
        }
    }
}

/// What a set operation produces.
enum OpOut {
    Items(Vec<(Vec<u8>, f64)>),
    Count(usize),
}

/// The computation of `zunionInterDiffGenericCommand`, on resolved inputs.
fn compute_setop(
    srcs: &[Src<'_>],
    weights: &[f64],
    op: SetOp,
    agg: Agg,
    card_limit: Option<usize>,
) -> OpOut {
    // Union and intersection visit inputs smallest first (a stable sort,
    // as glibc's qsort is here), which fixes the order scores are summed.
    let mut order: Vec<usize> = (0..srcs.len()).collect();
    if op != SetOp::Diff {
        order.sort_by_key(|&i| srcs.get(i).map_or(0, |s| s.len()));
    }
    let src = |i: usize| srcs.get(i).copied().unwrap_or(Src::Missing);
    let weight = |i: usize| weights.get(i).copied().unwrap_or(1.0);
    let first = order.first().copied().unwrap_or(0);
    let mut out = Vec::new();
    match op {
        SetOp::Inter => {
            let mut count = 0usize;
            if src(first).len() > 0 {
                for (m, s) in src(first).items() {
                    let mut score = weight(first) * s;
                    if score.is_nan() {
                        score = 0.0;
                    }
                    let mut all = true;
                    for &j in order.iter().skip(1) {
                        match src(j).find(&m) {
                            Some(v) => aggregate(&mut score, v * weight(j), agg),
                            None => {
                                all = false;
                                break;
                            }
                        }
                    }
                    if !all {
                        continue;
                    }
                    if let Some(limit) = card_limit {
                        count += 1;
                        if limit > 0 && count >= limit {
                            break;
                        }
                    } else {
                        out.push((m.into_owned(), score));
                    }
                }
            }
            if card_limit.is_some() {
                return OpOut::Count(count);
            }
        }
        SetOp::Union => {
            let mut acc: IndexMap<Vec<u8>, f64, FastHasher> = IndexMap::default();
            for &i in &order {
                for (m, s) in src(i).items() {
                    let mut score = weight(i) * s;
                    if score.is_nan() {
                        score = 0.0;
                    }
                    match acc.get_mut(&m[..]) {
                        Some(cur) => aggregate(cur, score, agg),
                        None => {
                            acc.insert(m.into_owned(), score);
                        }
                    }
                }
            }
            out = acc.into_iter().collect();
        }
        SetOp::Diff => {
            for (m, s) in src(first).items() {
                if !order.iter().skip(1).any(|&j| src(j).find(&m).is_some()) {
                    out.push((m.into_owned(), s));
                }
            }
        }
    }
    out.sort_by(|a, b| cmp_elements((&a.0[..], a.1), (&b.0[..], b.1)));
    OpOut::Items(out)
}

/// ZUNION/ZINTER/ZDIFF/ZINTERCARD (`dst` None) and the STORE forms.
fn setop_command(
    ex: &mut Exec<'_>,
    args: &[Bytes],
    dst: Option<&[u8]>,
    numkeys_idx: usize,
    op: SetOp,
    card_only: bool,
) -> R {
    let setnum = arg_i64(arg(args, numkeys_idx))?;
    if setnum < 1 {
        let name = String::from_utf8_lossy(arg(args, 0)).to_ascii_lowercase();
        return Err(CmdError::err(format!(
            "at least 1 input key is needed for '{name}' command"
        )));
    }
    let avail = args.len().saturating_sub(numkeys_idx + 1);
    let setnum = usize::try_from(setnum).unwrap_or(usize::MAX);
    if setnum > avail {
        return Err(CmdError::Syntax);
    }
    let keys = args
        .get(numkeys_idx + 1..numkeys_idx + 1 + setnum)
        .unwrap_or(&[]);
    let mut present = Vec::with_capacity(keys.len());
    for k in keys {
        match ex.lookup_read(k) {
            None => present.push(false),
            Some(e) => match e.value {
                Value::ZSet(_) | Value::Set(_) => present.push(true),
                _ => return Err(CmdError::WrongType),
            },
        }
    }
    let mut weights = vec![1.0; setnum];
    let mut agg = Agg::Sum;
    let mut withscores = false;
    let mut card_limit = 0usize;
    let mut j = numkeys_idx + 1 + setnum;
    while j < args.len() {
        let remaining = args.len() - j;
        let a = arg(args, j);
        if op != SetOp::Diff
            && !card_only
            && remaining > setnum
            && a.eq_ignore_ascii_case(b"weights")
        {
            for (w, raw) in weights.iter_mut().zip(args.iter().skip(j + 1)) {
                *w = parse_f64(raw).ok_or_else(|| CmdError::err("weight value is not a float"))?;
            }
            j += 1 + setnum;
        } else if op != SetOp::Diff
            && !card_only
            && remaining >= 2
            && a.eq_ignore_ascii_case(b"aggregate")
        {
            agg = match arg(args, j + 1).to_ascii_lowercase().as_slice() {
                b"sum" => Agg::Sum,
                b"min" => Agg::Min,
                b"max" => Agg::Max,
                _ => return Err(CmdError::Syntax),
            };
            j += 2;
        } else if dst.is_none() && !card_only && a.eq_ignore_ascii_case(b"withscores") {
            withscores = true;
            j += 1;
        } else if card_only && remaining >= 2 && a.eq_ignore_ascii_case(b"limit") {
            let l = range_long(arg(args, j + 1), 0, "LIMIT can't be negative")?;
            card_limit = usize::try_from(l).unwrap_or(usize::MAX);
            j += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let result = {
        let db: &Db = ex.db_mut();
        let srcs: Vec<Src<'_>> = keys
            .iter()
            .zip(&present)
            .map(|(k, &p)| match db.get(k).filter(|_| p).map(|e| &e.value) {
                Some(Value::ZSet(z)) => Src::Z(z),
                Some(Value::Set(s)) => Src::S(s),
                _ => Src::Missing,
            })
            .collect();
        compute_setop(&srcs, &weights, op, agg, card_only.then_some(card_limit))
    };
    let items = match result {
        OpOut::Count(n) => return Ok(Reply::Int(n as i64)),
        OpOut::Items(items) => items,
    };
    match dst {
        Some(dst) => {
            let event = match op {
                SetOp::Union => "zunionstore",
                SetOp::Inter => "zinterstore",
                SetOp::Diff => "zdiffstore",
            };
            Ok(store_result(ex, dst, items, event))
        }
        None => Ok(owned_reply(&items, withscores)),
    }
}

fn zunion(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    setop_command(ex, args, None, 1, SetOp::Union, false)
}

fn zinter(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    setop_command(ex, args, None, 1, SetOp::Inter, false)
}

fn zdiff(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    setop_command(ex, args, None, 1, SetOp::Diff, false)
}

fn zintercard(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    setop_command(ex, args, None, 1, SetOp::Inter, true)
}

fn zunionstore(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    setop_command(ex, args, Some(arg(args, 1)), 2, SetOp::Union, false)
}

fn zinterstore(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    setop_command(ex, args, Some(arg(args, 1)), 2, SetOp::Inter, false)
}

fn zdiffstore(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    setop_command(ex, args, Some(arg(args, 1)), 2, SetOp::Diff, false)
}

// ---------------------------------------------------------------------------
// Pops.

/// Pops up to `count` elements from the zset at `key` (absent: none),
/// notifying and deleting the key when emptied.
fn pop_n(
    ex: &mut Exec<'_>,
    key: &[u8],
    max: bool,
    count: usize,
) -> Result<Vec<(Vec<u8>, f64)>, CmdError> {
    let Some(z) = ex.write_zset(key)? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    while out.len() < count {
        match z.pop(max) {
            Some(p) => out.push(p),
            None => break,
        }
    }
    if !out.is_empty() {
        ex.notify(
            EventClass::ZSet,
            if max { "zpopmax" } else { "zpopmin" },
            key,
        );
        mark(ex, key, out.len());
        ex.delete_if_empty(key);
    }
    Ok(out)
}

/// Pops from the first non-empty sorted set among `keys`; a key of another
/// type is an error as soon as it is reached.
fn pop_first(
    ex: &mut Exec<'_>,
    keys: &[Bytes],
    max: bool,
    count: usize,
) -> Result<Option<(Bytes, Vec<(Vec<u8>, f64)>)>, CmdError> {
    for k in keys {
        match ex.write_zset(k)? {
            Some(z) if !z.is_empty() => {
                let items = pop_n(ex, k, max, count)?;
                return Ok(Some((k.clone(), items)));
            }
            _ => continue,
        }
    }
    Ok(None)
}

fn zpop_generic(ex: &mut Exec<'_>, args: &[Bytes], max: bool) -> R {
    if args.len() > 3 {
        return Err(CmdError::Syntax);
    }
    let count = match args.get(2) {
        Some(c) => Some(range_long(c, 0, "value is out of range, must be positive")?),
        None => None,
    };
    let key = arg(args, 1);
    if ex.write_zset(key)?.is_none() || count == Some(0) {
        return Ok(Reply::Array(Vec::new()));
    }
    let n = count.map_or(1, |c| usize::try_from(c).unwrap_or(usize::MAX));
    let items = pop_n(ex, key, max, n)?;
    Ok(match count {
        // Without a count: a flat [member, score], in RESP3 as well.
        None => Reply::Array(
            items
                .iter()
                .flat_map(|(m, s)| [Reply::bulk(m), Reply::Double(*s)])
                .collect(),
        ),
        Some(_) => owned_reply(&items, true),
    })
}

fn zpopmin(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    zpop_generic(ex, args, false)
}

fn zpopmax(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    zpop_generic(ex, args, true)
}

/// The `[key, [[member, score] …]]` reply of ZMPOP/BZMPOP (nested in RESP2
/// as well).
fn mpop_reply(key: Bytes, items: &[(Vec<u8>, f64)]) -> Reply {
    let list = items
        .iter()
        .map(|(m, s)| Reply::Array(vec![Reply::bulk(m), Reply::Double(*s)]))
        .collect();
    Reply::Array(vec![Reply::Bulk(key), Reply::Array(list)])
}

/// Parses `numkeys key… MIN|MAX [COUNT n]` from `numkeys_idx`.
fn parse_mpop(args: &[Bytes], numkeys_idx: usize) -> Result<(&[Bytes], bool, usize), CmdError> {
    let numkeys = range_long(
        arg(args, numkeys_idx),
        1,
        "numkeys should be greater than 0",
    )?;
    let numkeys = usize::try_from(numkeys).unwrap_or(usize::MAX);
    let where_idx = numkeys_idx.saturating_add(numkeys).saturating_add(1);
    if where_idx >= args.len() {
        return Err(CmdError::Syntax);
    }
    let max = match arg(args, where_idx).to_ascii_lowercase().as_slice() {
        b"min" => false,
        b"max" => true,
        _ => return Err(CmdError::Syntax),
    };
    let mut count = None;
    let mut j = where_idx + 1;
    while j < args.len() {
        let more = args.len() - 1 - j;
        if count.is_none() && arg(args, j).eq_ignore_ascii_case(b"count") && more > 0 {
            let c = range_long(arg(args, j + 1), 1, "count should be greater than 0")?;
            count = Some(usize::try_from(c).unwrap_or(usize::MAX));
            j += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let keys = args.get(numkeys_idx + 1..where_idx).unwrap_or(&[]);
    Ok((keys, max, count.unwrap_or(1)))
}

fn zmpop(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let (keys, max, count) = parse_mpop(args, 1)?;
    Ok(match pop_first(ex, keys, max, count)? {
        Some((key, items)) => mpop_reply(key, &items),
        None => Reply::NilArray,
    })
}

/// Nothing to pop: block if allowed, else the timeout reply.
fn block_or_timeout(ex: &Exec<'_>, keys: &[Bytes], timeout_ms: u64) -> Reply {
    if ex.allow_block {
        Reply::WouldBlock {
            keys: keys.to_vec(),
            timeout_ms,
        }
    } else {
        Reply::NilArray
    }
}

fn bzpop_generic(ex: &mut Exec<'_>, args: &[Bytes], max: bool) -> R {
    let timeout = parse_timeout(args.last().map_or(&[][..], |b| &b[..]))?;
    let keys = args.get(1..args.len().saturating_sub(1)).unwrap_or(&[]);
    Ok(match pop_first(ex, keys, max, 1)? {
        Some((key, items)) => {
            let mut out = vec![Reply::Bulk(key)];
            for (m, s) in &items {
                out.push(Reply::bulk(m));
                out.push(Reply::Double(*s));
            }
            Reply::Array(out)
        }
        None => block_or_timeout(ex, keys, timeout),
    })
}

fn bzpopmin(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    bzpop_generic(ex, args, false)
}

fn bzpopmax(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    bzpop_generic(ex, args, true)
}

fn bzmpop(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let (keys, max, count) = parse_mpop(args, 2)?;
    let timeout = parse_timeout(arg(args, 1))?;
    Ok(match pop_first(ex, keys, max, count)? {
        Some((key, items)) => mpop_reply(key, &items),
        None => block_or_timeout(ex, keys, timeout),
    })
}

// ---------------------------------------------------------------------------
// ZRANDMEMBER, ZSCAN.

fn zrandmember(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let key = arg(args, 1);
    let mut rng = ex.rng.clone();
    let reply = if args.len() >= 3 {
        let l = arg_i64(arg(args, 2))?;
        if l == i64::MIN {
            return Err(CmdError::err(
                "value is out of range, value must between -9223372036854775807 and 9223372036854775807",
            ));
        }
        if args.len() > 4 || (args.len() == 4 && !arg(args, 3).eq_ignore_ascii_case(b"withscores"))
        {
            return Err(CmdError::Syntax);
        }
        let withscores = args.len() == 4;
        if withscores && l < -(i64::MAX / 2) {
            return Err(CmdError::err("value is out of range"));
        }
        if l < 0 && l.unsigned_abs() > RANDMEMBER_MAX_REPLY {
            return Err(CmdError::err("value is out of range"));
        }
        let Some(z) = ex.read_zset(key)? else {
            return Ok(Reply::Array(Vec::new()));
        };
        randmember_count(z, l, withscores, &mut rng)
    } else {
        let Some(z) = ex.read_zset(key)? else {
            return Ok(Reply::Nil);
        };
        let ix = z.indexed();
        if ix.is_empty() {
            Reply::Nil
        } else {
            Reply::opt_bulk(ix.get(rng.gen_range(0..ix.len())).map(|(m, _)| m))
        }
    };
    ex.rng = rng;
    Ok(reply)
}

/// ZRANDMEMBER with a count: negative repeats picks, positive returns
/// distinct members (the whole set, highest first, when it asks for as many
/// or more — Redis's own order there).
fn randmember_count(
    z: &ZSetValue,
    l: i64,
    withscores: bool,
    rng: &mut rand::rngs::SmallRng,
) -> Reply {
    let size = z.len();
    if l == 0 || size == 0 {
        return Reply::Array(Vec::new());
    }
    let ix = z.indexed();
    let picks: Vec<(&[u8], f64)> = if l < 0 {
        let n = l.unsigned_abs();
        (0..n)
            .filter_map(|_| ix.get(rng.gen_range(0..size)))
            .collect()
    } else {
        let n = usize::try_from(l).unwrap_or(usize::MAX);
        if n == 1 {
            ix.get(rng.gen_range(0..size)).into_iter().collect()
        } else if n >= size {
            z.iter().rev().collect()
        } else {
            rand::seq::index::sample(rng, size, n)
                .into_iter()
                .filter_map(|i| ix.get(i))
                .collect()
        }
    };
    elements_reply(&picks, withscores)
}

fn zscan(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let cursor = parse_cursor(arg(args, 2))?;
    let empty = || Reply::Array(vec![Reply::bulk(b"0"), Reply::Array(Vec::new())]);
    let Some(z) = ex.read_zset(arg(args, 1))? else {
        return Ok(empty());
    };
    let (pattern, count, _) = scan_options(args, 3, false)?;
    let (next, items) = z.scan(cursor, count);
    let mut out = Vec::new();
    for (m, s) in items {
        if pattern.as_ref().is_some_and(|p| !glob_match(p, m)) {
            continue;
        }
        out.push(Reply::bulk(m));
        out.push(Reply::bulk(format_double(s).as_bytes()));
    }
    Ok(Reply::Array(vec![
        Reply::bulk(next.to_string().as_bytes()),
        Reply::Array(out),
    ]))
}

// ---------------------------------------------------------------------------
// Key finders for numkeys-style commands.

/// Positions of `numkeys` keys following the count at `idx`.
fn numkeys_at(args: &[Bytes], idx: usize) -> Vec<usize> {
    let n = args.get(idx).and_then(|a| parse_i64(a)).unwrap_or(0);
    let n = usize::try_from(n).unwrap_or(0).min(args.len());
    (idx + 1..idx + 1 + n).filter(|&i| i < args.len()).collect()
}

fn keys_numkeys_1(args: &[Bytes]) -> Vec<usize> {
    numkeys_at(args, 1)
}

fn keys_numkeys_2(args: &[Bytes]) -> Vec<usize> {
    numkeys_at(args, 2)
}

fn keys_store(args: &[Bytes]) -> Vec<usize> {
    let mut v = vec![1];
    v.extend(numkeys_at(args, 2));
    v
}

const SS: Group = Group::SortedSet;

/// Sorted-set command specs.
pub(crate) const SPECS: &[CommandSpec] = &[
    CommandSpec::new("zadd", -4, WRITE | DENYOOM | FAST, (1, 1, 1), SS, Some(zadd))
        .with_summary("Adds one or more members to a sorted set, or updates their scores."),
    CommandSpec::new("zincrby", 4, WRITE | DENYOOM | FAST, (1, 1, 1), SS, Some(zincrby))
        .with_summary("Increments the score of a member in a sorted set."),
    CommandSpec::new("zrem", -3, WRITE | FAST, (1, 1, 1), SS, Some(zrem))
        .with_summary("Removes one or more members from a sorted set."),
    CommandSpec::new("zcard", 2, READONLY | FAST, (1, 1, 1), SS, Some(zcard))
        .with_summary("Returns the number of members in a sorted set."),
    CommandSpec::new("zcount", 4, READONLY | FAST, (1, 1, 1), SS, Some(zcount))
        .with_summary("Returns the count of members in a sorted set that have scores within a range."),
    CommandSpec::new("zlexcount", 4, READONLY | FAST, (1, 1, 1), SS, Some(zlexcount))
        .with_summary("Returns the number of members in a sorted set within a lexicographical range."),
    CommandSpec::new("zscore", 3, READONLY | FAST, (1, 1, 1), SS, Some(zscore))
        .with_summary("Returns the score of a member in a sorted set."),
    CommandSpec::new("zmscore", -3, READONLY | FAST, (1, 1, 1), SS, Some(zmscore))
        .with_summary("Returns the score of one or more members in a sorted set."),
    CommandSpec::new("zrank", 3, READONLY | FAST, (1, 1, 1), SS, Some(zrank))
        .with_summary("Returns the index of a member in a sorted set ordered by ascending scores."),
    CommandSpec::new("zrevrank", 3, READONLY | FAST, (1, 1, 1), SS, Some(zrevrank))
        .with_summary("Returns the index of a member in a sorted set ordered by descending scores."),
    CommandSpec::new("zrange", -4, READONLY, (1, 1, 1), SS, Some(zrange))
        .with_summary("Returns members in a sorted set within a range of indexes, scores or lexicographical order."),
    CommandSpec::new("zrangestore", -5, WRITE | DENYOOM, (1, 2, 1), SS, Some(zrangestore))
        .with_summary("Stores a range of members from sorted set in a key."),
    CommandSpec::new("zrangebyscore", -4, READONLY, (1, 1, 1), SS, Some(zrangebyscore))
        .with_summary("Returns members in a sorted set within a range of scores."),
    CommandSpec::new("zrevrangebyscore", -4, READONLY, (1, 1, 1), SS, Some(zrevrangebyscore))
        .with_summary("Returns members in a sorted set within a range of scores in reverse order."),
    CommandSpec::new("zrangebylex", -4, READONLY, (1, 1, 1), SS, Some(zrangebylex))
        .with_summary("Returns members in a sorted set within a lexicographical range."),
    CommandSpec::new("zrevrangebylex", -4, READONLY, (1, 1, 1), SS, Some(zrevrangebylex))
        .with_summary("Returns members in a sorted set within a lexicographical range in reverse order."),
    CommandSpec::new("zrevrange", -4, READONLY, (1, 1, 1), SS, Some(zrevrange))
        .with_summary("Returns members in a sorted set within a range of indexes in reverse order."),
    CommandSpec::new("zremrangebyrank", 4, WRITE, (1, 1, 1), SS, Some(zremrangebyrank))
        .with_summary("Removes members in a sorted set within a range of indexes."),
    CommandSpec::new("zremrangebyscore", 4, WRITE, (1, 1, 1), SS, Some(zremrangebyscore))
        .with_summary("Removes members in a sorted set within a range of scores."),
    CommandSpec::new("zremrangebylex", 4, WRITE, (1, 1, 1), SS, Some(zremrangebylex))
        .with_summary("Removes members in a sorted set within a lexicographical range."),
    CommandSpec::new("zunion", -3, READONLY, (0, 0, 0), SS, Some(zunion))
        .with_getkeys(keys_numkeys_1)
        .with_summary("Returns the union of multiple sorted sets."),
    CommandSpec::new("zinter", -3, READONLY, (0, 0, 0), SS, Some(zinter))
        .with_getkeys(keys_numkeys_1)
        .with_summary("Returns the intersect of multiple sorted sets."),
    CommandSpec::new("zdiff", -3, READONLY, (0, 0, 0), SS, Some(zdiff))
        .with_getkeys(keys_numkeys_1)
        .with_summary("Returns the difference between multiple sorted sets."),
    CommandSpec::new("zintercard", -3, READONLY, (0, 0, 0), SS, Some(zintercard))
        .with_getkeys(keys_numkeys_1)
        .with_summary("Returns the number of members of the intersect of multiple sorted sets."),
    CommandSpec::new("zunionstore", -4, WRITE | DENYOOM, (1, 1, 1), SS, Some(zunionstore))
        .with_getkeys(keys_store)
        .with_summary("Stores the union of multiple sorted sets in a key."),
    CommandSpec::new("zinterstore", -4, WRITE | DENYOOM, (1, 1, 1), SS, Some(zinterstore))
        .with_getkeys(keys_store)
        .with_summary("Stores the intersect of multiple sorted sets in a key."),
    CommandSpec::new("zdiffstore", -4, WRITE | DENYOOM, (1, 1, 1), SS, Some(zdiffstore))
        .with_getkeys(keys_store)
        .with_summary("Stores the difference of multiple sorted sets in a key."),
    CommandSpec::new("zpopmin", -2, WRITE | FAST, (1, 1, 1), SS, Some(zpopmin))
        .with_summary("Returns the lowest-scoring members from a sorted set after removing them."),
    CommandSpec::new("zpopmax", -2, WRITE | FAST, (1, 1, 1), SS, Some(zpopmax))
        .with_summary("Returns the highest-scoring members from a sorted set after removing them."),
    CommandSpec::new("zmpop", -4, WRITE, (0, 0, 0), SS, Some(zmpop))
        .with_getkeys(keys_numkeys_1)
        .with_summary("Returns the highest- or lowest-scoring members from one or more sorted sets after removing them."),
    CommandSpec::new("bzpopmin", -3, WRITE | NOSCRIPT | BLOCKING | FAST, (1, -2, 1), SS, Some(bzpopmin))
        .with_summary("Removes and returns the member with the lowest score from one or more sorted sets, or blocks until one is available."),
    CommandSpec::new("bzpopmax", -3, WRITE | NOSCRIPT | BLOCKING | FAST, (1, -2, 1), SS, Some(bzpopmax))
        .with_summary("Removes and returns the member with the highest score from one or more sorted sets, or blocks until one is available."),
    CommandSpec::new("bzmpop", -5, WRITE | BLOCKING, (0, 0, 0), SS, Some(bzmpop))
        .with_getkeys(keys_numkeys_2)
        .with_summary("Removes and returns a member by score from one or more sorted sets, or blocks until one is available."),
    CommandSpec::new("zrandmember", -2, READONLY, (1, 1, 1), SS, Some(zrandmember))
        .with_summary("Returns one or more random members from a sorted set."),
    CommandSpec::new("zscan", -3, READONLY, (1, 1, 1), SS, Some(zscan))
        .with_summary("Iterates over members and scores of a sorted set."),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{cmd, Effect, Engine, EngineConfig, Outcome};

    const NOW: u64 = 1_000_000;

    fn run_full(e: &mut Engine, args: &[&str], allow_block: bool, seed: u64) -> Outcome {
        let argv: Vec<Bytes> = args
            .iter()
            .map(|a| Bytes::copy_from_slice(a.as_bytes()))
            .collect();
        e.call(0, argv, NOW, seed, allow_block)
    }

    fn run(e: &mut Engine, args: &[&str]) -> Reply {
        run_full(e, args, true, 7).reply
    }

    fn engine() -> Engine {
        Engine::new(EngineConfig::default())
    }

    /// An engine whose sorted sets take the large form from the start.
    fn large_engine() -> Engine {
        Engine::new(EngineConfig {
            zset_max_listpack_entries: 0,
            ..EngineConfig::default()
        })
    }

    fn bulk(s: &str) -> Reply {
        Reply::bulk(s.as_bytes())
    }

    fn arr(items: &[&str]) -> Reply {
        Reply::Array(items.iter().map(|s| bulk(s)).collect())
    }

    fn pairs(items: &[(&str, f64)]) -> Reply {
        Reply::Pairs(
            items
                .iter()
                .map(|(m, s)| (bulk(m), Reply::Double(*s)))
                .collect(),
        )
    }

    fn err_text(r: &Reply) -> String {
        match r {
            Reply::Error(e) => e.wire_text(),
            other => panic!("expected an error, got {other:?}"),
        }
    }

    fn encoding(e: &Engine, key: &str) -> &'static str {
        e.db(0)
            .unwrap()
            .get(key.as_bytes())
            .unwrap()
            .value
            .encoding()
    }

    fn exists(e: &Engine, key: &str) -> bool {
        e.db(0).unwrap().get(key.as_bytes()).is_some()
    }

    fn events(o: &Outcome) -> Vec<&'static str> {
        o.effects
            .iter()
            .filter_map(|f| match f {
                Effect::Notify { event, .. } => Some(*event),
                _ => None,
            })
            .collect()
    }

    fn ready(o: &Outcome) -> bool {
        o.effects
            .iter()
            .any(|f| matches!(f, Effect::KeyReady { .. }))
    }

    fn both() -> [Engine; 2] {
        [engine(), large_engine()]
    }

    #[test]
    fn zadd_options_and_replies() {
        for mut e in both() {
            assert_eq!(
                run(&mut e, &["ZADD", "z", "1", "a", "2", "b"]),
                Reply::Int(2)
            );
            assert_eq!(
                run(&mut e, &["ZADD", "z", "1", "a", "3", "c"]),
                Reply::Int(1)
            );
            assert_eq!(
                run(&mut e, &["ZADD", "z", "CH", "5", "a", "3", "c", "9", "d"]),
                Reply::Int(2)
            );
            assert_eq!(
                run(&mut e, &["ZADD", "z", "NX", "0", "a", "4", "e"]),
                Reply::Int(1)
            );
            assert_eq!(run(&mut e, &["ZSCORE", "z", "a"]), Reply::Double(5.0));
            assert_eq!(
                run(&mut e, &["ZADD", "z", "XX", "CH", "6", "a", "1", "new"]),
                Reply::Int(1)
            );
            assert_eq!(run(&mut e, &["ZSCORE", "z", "new"]), Reply::Nil);
            assert_eq!(
                run(&mut e, &["ZADD", "z", "GT", "CH", "1", "a", "7", "b"]),
                Reply::Int(1)
            );
            assert_eq!(run(&mut e, &["ZSCORE", "z", "a"]), Reply::Double(6.0));
            assert_eq!(
                run(&mut e, &["ZADD", "z", "LT", "CH", "1", "a", "70", "b"]),
                Reply::Int(1)
            );
            assert_eq!(run(&mut e, &["ZSCORE", "z", "b"]), Reply::Double(7.0));
            assert_eq!(
                run(&mut e, &["ZADD", "z", "INCR", "2.5", "a"]),
                Reply::Double(3.5)
            );
            assert_eq!(
                run(&mut e, &["ZADD", "z", "NX", "INCR", "1", "a"]),
                Reply::Nil
            );
            assert_eq!(
                run(&mut e, &["ZADD", "z", "GT", "INCR", "-1", "a"]),
                Reply::Nil
            );
            assert_eq!(
                run(&mut e, &["ZADD", "z", "XX", "INCR", "1", "zz"]),
                Reply::Nil
            );
            assert_eq!(
                run(&mut e, &["ZADD", "nokey", "XX", "1", "a"]),
                Reply::Int(0)
            );
            assert!(!exists(&e, "nokey"));
            assert_eq!(
                run(&mut e, &["ZADD", "z", "0x10", "hex", "-inf", "low"]),
                Reply::Int(2)
            );
            assert_eq!(run(&mut e, &["ZSCORE", "z", "hex"]), Reply::Double(16.0));
            assert_eq!(
                run(&mut e, &["ZSCORE", "z", "low"]),
                Reply::Double(f64::NEG_INFINITY)
            );
        }
    }

    #[test]
    fn zadd_errors() {
        let mut e = engine();
        run(&mut e, &["SET", "s", "x"]);
        let cases: &[(&[&str], &str)] = &[
            (&["ZADD", "z", "NX", "1"], "ERR syntax error"),
            (&["ZADD", "z", "NX", "1", "a", "2"], "ERR syntax error"),
            (
                &["ZADD", "z", "NX", "XX", "1", "a"],
                "ERR XX and NX options at the same time are not compatible",
            ),
            (
                &["ZADD", "z", "GT", "LT", "1", "a"],
                "ERR GT, LT, and/or NX options at the same time are not compatible",
            ),
            (
                &["ZADD", "z", "NX", "GT", "1", "a"],
                "ERR GT, LT, and/or NX options at the same time are not compatible",
            ),
            (
                &["ZADD", "z", "INCR", "1", "a", "2", "b"],
                "ERR INCR option supports a single increment-element pair",
            ),
            (&["ZADD", "z", "x", "a"], "ERR value is not a valid float"),
            (&["ZADD", "z", "nan", "a"], "ERR value is not a valid float"),
            (
                &["ZADD", "z", "1e400", "a"],
                "ERR value is not a valid float",
            ),
            (&["ZADD", "z", " 1", "a"], "ERR value is not a valid float"),
            (&["ZADD", "z", "", "a"], "ERR value is not a valid float"),
            (
                &["ZADD", "s", "1", "a"],
                "WRONGTYPE Operation against a key holding the wrong kind of value",
            ),
            (
                &["ZADD", "z"],
                "ERR wrong number of arguments for 'zadd' command",
            ),
            (
                &["ZINCRBY", "z", "x", "a"],
                "ERR value is not a valid float",
            ),
            (&["ZINCRBY", "z", "NX", "a"], "ERR syntax error"),
            (
                &["ZINCRBY", "s", "1", "a"],
                "WRONGTYPE Operation against a key holding the wrong kind of value",
            ),
        ];
        for (args, want) in cases {
            assert_eq!(err_text(&run(&mut e, args)), *want, "{args:?}");
        }
        assert!(!exists(&e, "z"));
        run(&mut e, &["ZADD", "z", "inf", "a"]);
        assert_eq!(
            err_text(&run(&mut e, &["ZINCRBY", "z", "-inf", "a"])),
            "ERR resulting score is not a number (NaN)"
        );
        assert_eq!(
            err_text(&run(&mut e, &["ZADD", "z", "INCR", "-inf", "a"])),
            "ERR resulting score is not a number (NaN)"
        );
        assert_eq!(
            run(&mut e, &["ZSCORE", "z", "a"]),
            Reply::Double(f64::INFINITY)
        );
    }

    #[test]
    fn zadd_effects() {
        let mut e = engine();
        let o = run_full(&mut e, &["ZADD", "z", "1", "a"], true, 1);
        assert_eq!(events(&o), ["zadd"]);
        assert!(ready(&o));
        let o = run_full(&mut e, &["ZADD", "z", "1", "a"], true, 1);
        assert!(events(&o).is_empty() && !ready(&o));
        let o = run_full(&mut e, &["ZADD", "z", "2", "a"], true, 1);
        assert_eq!(events(&o), ["zadd"]);
        assert!(!ready(&o));
        let o = run_full(&mut e, &["ZINCRBY", "z", "2", "a"], true, 1);
        assert_eq!(events(&o), ["zincr"]);
        assert_eq!(o.reply, Reply::Double(4.0));
        let o = run_full(&mut e, &["ZINCRBY", "z", "2", "b"], true, 1);
        assert!(ready(&o));
    }

    #[test]
    fn encoding_follows_thresholds() {
        let mut e = Engine::new(EngineConfig {
            zset_max_listpack_entries: 3,
            zset_max_listpack_value: 5,
            ..EngineConfig::default()
        });
        run(&mut e, &["ZADD", "z", "1", "a", "2", "b", "3", "c"]);
        assert_eq!(encoding(&e, "z"), "listpack");
        run(&mut e, &["ZADD", "z", "4", "d"]);
        assert_eq!(encoding(&e, "z"), "skiplist");
        run(&mut e, &["ZREM", "z", "a", "b", "c"]);
        assert_eq!(encoding(&e, "z"), "skiplist");
        run(&mut e, &["ZADD", "y", "1", "toolong"]);
        assert_eq!(encoding(&e, "y"), "skiplist");
        run(&mut e, &["ZADD", "w", "1", "a"]);
        run(&mut e, &["ZUNIONSTORE", "u", "2", "w", "z"]);
        assert_eq!(encoding(&e, "u"), "listpack");
        run(&mut e, &["ZUNIONSTORE", "u", "2", "w", "y"]);
        assert_eq!(encoding(&e, "u"), "skiplist");
        run(&mut e, &["ZRANGESTORE", "r", "z", "0", "-1"]);
        assert_eq!(encoding(&e, "r"), "listpack");
    }

    #[test]
    fn point_reads() {
        for mut e in both() {
            run(&mut e, &["ZADD", "z", "1", "a", "2", "b", "3", "c"]);
            run(&mut e, &["SET", "s", "x"]);
            assert_eq!(run(&mut e, &["ZCARD", "z"]), Reply::Int(3));
            assert_eq!(run(&mut e, &["ZCARD", "nokey"]), Reply::Int(0));
            assert_eq!(run(&mut e, &["ZSCORE", "z", "b"]), Reply::Double(2.0));
            assert_eq!(run(&mut e, &["ZSCORE", "z", "x"]), Reply::Nil);
            assert_eq!(run(&mut e, &["ZSCORE", "nokey", "x"]), Reply::Nil);
            assert_eq!(
                run(&mut e, &["ZMSCORE", "z", "a", "x", "c"]),
                Reply::Array(vec![Reply::Double(1.0), Reply::Nil, Reply::Double(3.0)])
            );
            assert_eq!(
                run(&mut e, &["ZMSCORE", "nokey", "a"]),
                Reply::Array(vec![Reply::Nil])
            );
            assert_eq!(run(&mut e, &["ZRANK", "z", "c"]), Reply::Int(2));
            assert_eq!(run(&mut e, &["ZREVRANK", "z", "c"]), Reply::Int(0));
            assert_eq!(run(&mut e, &["ZRANK", "z", "x"]), Reply::Nil);
            assert_eq!(run(&mut e, &["ZREVRANK", "nokey", "x"]), Reply::Nil);
            for c in ["ZCARD", "ZSCORE", "ZMSCORE", "ZRANK", "ZREVRANK"] {
                let args: Vec<&str> = if c == "ZCARD" {
                    vec![c, "s"]
                } else {
                    vec![c, "s", "a"]
                };
                assert!(
                    err_text(&run(&mut e, &args)).starts_with("WRONGTYPE"),
                    "{c}"
                );
            }
            assert_eq!(
                err_text(&run(&mut e, &["ZRANK", "z", "a", "WITHSCORE"])),
                "ERR wrong number of arguments for 'zrank' command"
            );
        }
    }

    #[test]
    fn zrem_deletes_emptied_key() {
        for mut e in both() {
            run(&mut e, &["ZADD", "z", "1", "a", "2", "b"]);
            assert_eq!(run(&mut e, &["ZREM", "z", "a", "x"]), Reply::Int(1));
            let o = run_full(&mut e, &["ZREM", "z", "b", "a"], true, 1);
            assert_eq!(o.reply, Reply::Int(1));
            assert_eq!(events(&o), ["zrem", "del"]);
            assert!(!exists(&e, "z"));
            assert_eq!(run(&mut e, &["ZREM", "z", "a"]), Reply::Int(0));
        }
    }

    #[test]
    fn zrange_by_rank() {
        for mut e in both() {
            run(
                &mut e,
                &["ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d"],
            );
            assert_eq!(
                run(&mut e, &["ZRANGE", "z", "0", "-1"]),
                arr(&["a", "b", "c", "d"])
            );
            assert_eq!(
                run(&mut e, &["ZRANGE", "z", "1", "2", "WITHSCORES"]),
                pairs(&[("b", 2.0), ("c", 3.0)])
            );
            assert_eq!(
                run(&mut e, &["ZRANGE", "z", "0", "1", "REV"]),
                arr(&["d", "c"])
            );
            assert_eq!(
                run(&mut e, &["ZREVRANGE", "z", "-2", "-1"]),
                arr(&["b", "a"])
            );
            assert_eq!(
                run(&mut e, &["ZRANGE", "z", "-100", "100"]),
                arr(&["a", "b", "c", "d"])
            );
            assert_eq!(run(&mut e, &["ZRANGE", "z", "3", "1"]), arr(&[]));
            assert_eq!(run(&mut e, &["ZRANGE", "z", "5", "10"]), arr(&[]));
            assert_eq!(run(&mut e, &["ZRANGE", "nokey", "0", "-1"]), arr(&[]));
            // LIMIT with count -1 is "no LIMIT" even for a rank range.
            assert_eq!(
                run(&mut e, &["ZRANGE", "z", "0", "0", "LIMIT", "3", "-1"]),
                arr(&["a"])
            );
        }
    }

    #[test]
    fn zrange_by_score() {
        for mut e in both() {
            run(
                &mut e,
                &[
                    "ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d", "inf", "e",
                ],
            );
            assert_eq!(
                run(&mut e, &["ZRANGEBYSCORE", "z", "(1", "3"]),
                arr(&["b", "c"])
            );
            assert_eq!(
                run(
                    &mut e,
                    &["ZRANGE", "z", "2", "+inf", "BYSCORE", "LIMIT", "1", "2"]
                ),
                arr(&["c", "d"])
            );
            assert_eq!(
                run(
                    &mut e,
                    &["ZRANGE", "z", "(4", "-inf", "BYSCORE", "REV", "WITHSCORES"]
                ),
                pairs(&[("c", 3.0), ("b", 2.0), ("a", 1.0)])
            );
            assert_eq!(
                run(
                    &mut e,
                    &["ZREVRANGEBYSCORE", "z", "+inf", "(3", "LIMIT", "0", "2"]
                ),
                arr(&["e", "d"])
            );
            assert_eq!(
                run(&mut e, &["ZRANGEBYSCORE", "z", "(inf", "+inf"]),
                arr(&[])
            );
            assert_eq!(
                run(&mut e, &["ZRANGEBYSCORE", "z", "inf", "inf"]),
                arr(&["e"])
            );
            assert_eq!(run(&mut e, &["ZRANGEBYSCORE", "z", "3", "1"]), arr(&[]));
            assert_eq!(
                run(
                    &mut e,
                    &["ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", "-1", "2"]
                ),
                arr(&[])
            );
            assert_eq!(
                run(
                    &mut e,
                    &["ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", "3", "-5"]
                ),
                arr(&["d", "e"])
            );
            assert_eq!(
                run(
                    &mut e,
                    &["ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", "9", "1"]
                ),
                arr(&[])
            );
            assert_eq!(run(&mut e, &["ZRANGEBYSCORE", "z", "", "(2"]), arr(&["a"]));
            assert_eq!(
                run(&mut e, &["ZRANGEBYSCORE", "z", " 2", "0x3"]),
                arr(&["b", "c"])
            );
            assert_eq!(run(&mut e, &["ZCOUNT", "z", "(1", "4"]), Reply::Int(3));
            assert_eq!(run(&mut e, &["ZCOUNT", "z", "-inf", "+inf"]), Reply::Int(5));
            assert_eq!(run(&mut e, &["ZCOUNT", "nokey", "1", "2"]), Reply::Int(0));
        }
    }

    #[test]
    fn zrange_by_lex() {
        for mut e in both() {
            run(
                &mut e,
                &[
                    "ZADD", "z", "0", "a", "0", "b", "0", "c", "0", "d", "0", "e",
                ],
            );
            assert_eq!(
                run(&mut e, &["ZRANGEBYLEX", "z", "-", "+"]),
                arr(&["a", "b", "c", "d", "e"])
            );
            assert_eq!(
                run(&mut e, &["ZRANGEBYLEX", "z", "[b", "(d"]),
                arr(&["b", "c"])
            );
            assert_eq!(
                run(
                    &mut e,
                    &["ZRANGE", "z", "(b", "[d", "BYLEX", "LIMIT", "1", "5"]
                ),
                arr(&["d"])
            );
            assert_eq!(
                run(&mut e, &["ZREVRANGEBYLEX", "z", "+", "[c"]),
                arr(&["e", "d", "c"])
            );
            assert_eq!(
                run(
                    &mut e,
                    &["ZRANGE", "z", "+", "-", "BYLEX", "REV", "LIMIT", "1", "2"]
                ),
                arr(&["d", "c"])
            );
            assert_eq!(run(&mut e, &["ZRANGEBYLEX", "z", "+", "-"]), arr(&[]));
            assert_eq!(run(&mut e, &["ZRANGEBYLEX", "z", "[c", "[c"]), arr(&["c"]));
            assert_eq!(run(&mut e, &["ZRANGEBYLEX", "z", "(c", "[c"]), arr(&[]));
            assert_eq!(run(&mut e, &["ZLEXCOUNT", "z", "[b", "+"]), Reply::Int(4));
            assert_eq!(run(&mut e, &["ZLEXCOUNT", "z", "-", "-"]), Reply::Int(0));
        }
    }

    #[test]
    fn zrange_errors() {
        let mut e = engine();
        run(&mut e, &["ZADD", "z", "1", "a"]);
        run(&mut e, &["SET", "s", "x"]);
        let limit_err =
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX";
        let lex_err = "ERR syntax error, WITHSCORES not supported in combination with BYLEX";
        let cases: &[(&[&str], &str)] = &[
            (&["ZRANGE", "z", "0", "-1", "LIMIT", "0", "1"], limit_err),
            (
                &["ZRANGE", "nokey", "0", "-1", "LIMIT", "0", "1"],
                limit_err,
            ),
            (&["ZREVRANGE", "z", "0", "-1", "LIMIT", "0", "1"], limit_err),
            (&["ZRANGE", "z", "-", "+", "BYLEX", "WITHSCORES"], lex_err),
            (&["ZRANGEBYLEX", "z", "-", "+", "WITHSCORES"], lex_err),
            (
                &["ZRANGE", "z", "0", "-1", "BYSCORE", "BYLEX"],
                "ERR syntax error",
            ),
            (
                &["ZRANGE", "z", "0", "-1", "REV", "REV"],
                "ERR syntax error",
            ),
            (
                &["ZRANGE", "z", "0", "-1", "LIMIT", "0"],
                "ERR syntax error",
            ),
            (&["ZRANGEBYSCORE", "z", "0", "1", "REV"], "ERR syntax error"),
            (&["ZREVRANGE", "z", "0", "1", "BYSCORE"], "ERR syntax error"),
            (
                &["ZRANGESTORE", "d", "z", "0", "-1", "WITHSCORES"],
                "ERR syntax error",
            ),
            (
                &["ZRANGE", "z", "0", "-1", "BYSCORE", "LIMIT", "x", "1"],
                "ERR value is not an integer or out of range",
            ),
            (
                &["ZRANGE", "z", "a", "b"],
                "ERR value is not an integer or out of range",
            ),
            (
                &["ZRANGE", "z", "a", "b", "BYSCORE"],
                "ERR min or max is not a float",
            ),
            (
                &["ZRANGE", "z", "a", "b", "BYLEX"],
                "ERR min or max not valid string range item",
            ),
            (
                &["ZRANGEBYSCORE", "z", "nan", "1"],
                "ERR min or max is not a float",
            ),
            (
                &["ZRANGEBYSCORE", "z", "1 ", "2"],
                "ERR min or max is not a float",
            ),
            (
                &["ZRANGEBYSCORE", "z", "((1", "2"],
                "ERR min or max is not a float",
            ),
            (
                &["ZRANGEBYLEX", "z", "", "+"],
                "ERR min or max not valid string range item",
            ),
            (
                &["ZRANGEBYLEX", "z", "-x", "+"],
                "ERR min or max not valid string range item",
            ),
            (&["ZCOUNT", "z", "x", "1"], "ERR min or max is not a float"),
            (
                &["ZLEXCOUNT", "z", "a", "b"],
                "ERR min or max not valid string range item",
            ),
            (
                &["ZRANGE", "s", "0", "-1"],
                "WRONGTYPE Operation against a key holding the wrong kind of value",
            ),
            (
                &["ZCOUNT", "s", "0", "1"],
                "WRONGTYPE Operation against a key holding the wrong kind of value",
            ),
        ];
        for (args, want) in cases {
            assert_eq!(err_text(&run(&mut e, args)), *want, "{args:?}");
        }
    }

    #[test]
    fn zrangestore_stores_or_deletes() {
        for mut e in both() {
            run(&mut e, &["ZADD", "z", "1", "a", "2", "b", "3", "c"]);
            let o = run_full(
                &mut e,
                &[
                    "ZRANGESTORE",
                    "d",
                    "z",
                    "+inf",
                    "(1",
                    "BYSCORE",
                    "REV",
                    "LIMIT",
                    "0",
                    "1",
                ],
                true,
                1,
            );
            assert_eq!(o.reply, Reply::Int(1));
            assert_eq!(events(&o), ["zrangestore"]);
            assert!(ready(&o));
            assert_eq!(
                run(&mut e, &["ZRANGE", "d", "0", "-1", "WITHSCORES"]),
                pairs(&[("c", 3.0)])
            );
            assert_eq!(
                run(&mut e, &["ZRANGESTORE", "d", "z", "0", "-1", "REV"]),
                Reply::Int(3)
            );
            assert_eq!(
                run(&mut e, &["ZRANGE", "d", "0", "-1"]),
                arr(&["a", "b", "c"])
            );
            run(&mut e, &["SET", "s", "x"]);
            assert_eq!(
                run(&mut e, &["ZRANGESTORE", "s", "z", "0", "0"]),
                Reply::Int(1)
            );
            assert_eq!(run(&mut e, &["ZCARD", "s"]), Reply::Int(1));
            let o = run_full(&mut e, &["ZRANGESTORE", "d", "nokey", "0", "-1"], true, 1);
            assert_eq!(o.reply, Reply::Int(0));
            assert_eq!(events(&o), ["del"]);
            assert!(!exists(&e, "d"));
            run(&mut e, &["SET", "str", "x"]);
            assert!(
                err_text(&run(&mut e, &["ZRANGESTORE", "d", "str", "0", "-1"]))
                    .starts_with("WRONGTYPE")
            );
        }
    }

    #[test]
    fn zremrange_family() {
        for mut e in both() {
            run(
                &mut e,
                &[
                    "ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d", "5", "e",
                ],
            );
            let o = run_full(&mut e, &["ZREMRANGEBYRANK", "z", "0", "1"], true, 1);
            assert_eq!(o.reply, Reply::Int(2));
            assert_eq!(events(&o), ["zremrangebyrank"]);
            assert_eq!(
                run(&mut e, &["ZREMRANGEBYSCORE", "z", "(3", "4"]),
                Reply::Int(1)
            );
            assert_eq!(run(&mut e, &["ZRANGE", "z", "0", "-1"]), arr(&["c", "e"]));
            assert_eq!(
                run(&mut e, &["ZREMRANGEBYRANK", "z", "5", "9"]),
                Reply::Int(0)
            );
            let o = run_full(&mut e, &["ZREMRANGEBYSCORE", "z", "-inf", "+inf"], true, 1);
            assert_eq!(events(&o), ["zremrangebyscore", "del"]);
            assert!(!exists(&e, "z"));
            run(&mut e, &["ZADD", "l", "0", "a", "0", "b", "0", "c"]);
            let o = run_full(&mut e, &["ZREMRANGEBYLEX", "l", "(a", "+"], true, 1);
            assert_eq!(o.reply, Reply::Int(2));
            assert_eq!(events(&o), ["zremrangebylex"]);
            assert_eq!(
                run(&mut e, &["ZREMRANGEBYLEX", "nokey", "-", "+"]),
                Reply::Int(0)
            );
            assert_eq!(
                err_text(&run(&mut e, &["ZREMRANGEBYRANK", "l", "x", "1"])),
                "ERR value is not an integer or out of range"
            );
            assert_eq!(
                err_text(&run(&mut e, &["ZREMRANGEBYSCORE", "l", "x", "1"])),
                "ERR min or max is not a float"
            );
            assert_eq!(
                err_text(&run(&mut e, &["ZREMRANGEBYLEX", "l", "x", "1"])),
                "ERR min or max not valid string range item"
            );
        }
    }

    #[test]
    fn set_operations() {
        for mut e in both() {
            run(&mut e, &["ZADD", "z1", "1", "a", "2", "b", "3", "c"]);
            run(&mut e, &["ZADD", "z2", "10", "b", "20", "c", "30", "d"]);
            run(&mut e, &["SADD", "s", "c", "d", "e"]);
            assert_eq!(
                run(&mut e, &["ZUNION", "2", "z1", "z2", "WITHSCORES"]),
                pairs(&[("a", 1.0), ("b", 12.0), ("c", 23.0), ("d", 30.0)])
            );
            assert_eq!(
                run(
                    &mut e,
                    &[
                        "ZUNION",
                        "3",
                        "z1",
                        "z2",
                        "s",
                        "WEIGHTS",
                        "1",
                        "0.5",
                        "2",
                        "AGGREGATE",
                        "MAX",
                        "WITHSCORES"
                    ]
                ),
                pairs(&[("a", 1.0), ("e", 2.0), ("b", 5.0), ("c", 10.0), ("d", 15.0)])
            );
            assert_eq!(
                run(
                    &mut e,
                    &["ZINTER", "2", "z1", "z2", "AGGREGATE", "MIN", "WITHSCORES"]
                ),
                pairs(&[("b", 2.0), ("c", 3.0)])
            );
            assert_eq!(run(&mut e, &["ZINTER", "3", "z1", "z2", "s"]), arr(&["c"]));
            assert_eq!(
                run(&mut e, &["ZINTER", "2", "z1", "s", "WITHSCORES"]),
                pairs(&[("c", 4.0)])
            );
            assert_eq!(
                run(&mut e, &["ZDIFF", "2", "z1", "z2", "WITHSCORES"]),
                pairs(&[("a", 1.0)])
            );
            assert_eq!(run(&mut e, &["ZDIFF", "2", "s", "z2"]), arr(&["e"]));
            assert_eq!(run(&mut e, &["ZDIFF", "2", "nokey", "z2"]), arr(&[]));
            assert_eq!(run(&mut e, &["ZINTER", "2", "z1", "nokey"]), arr(&[]));
            assert_eq!(run(&mut e, &["ZINTERCARD", "2", "z1", "z2"]), Reply::Int(2));
            assert_eq!(
                run(&mut e, &["ZINTERCARD", "2", "z1", "z2", "LIMIT", "1"]),
                Reply::Int(1)
            );
            assert_eq!(
                run(&mut e, &["ZINTERCARD", "2", "z1", "z2", "LIMIT", "0"]),
                Reply::Int(2)
            );
            let o = run_full(
                &mut e,
                &["ZUNIONSTORE", "d", "2", "z1", "z2", "WEIGHTS", "2", "1"],
                true,
                1,
            );
            assert_eq!(o.reply, Reply::Int(4));
            assert_eq!(events(&o), ["zunionstore"]);
            assert!(ready(&o));
            assert_eq!(run(&mut e, &["ZSCORE", "d", "c"]), Reply::Double(26.0));
            assert_eq!(
                run(&mut e, &["ZINTERSTORE", "d", "2", "z1", "z2"]),
                Reply::Int(2)
            );
            assert_eq!(
                run(&mut e, &["ZDIFFSTORE", "d", "2", "z2", "z1"]),
                Reply::Int(1)
            );
            assert_eq!(
                run(&mut e, &["ZRANGE", "d", "0", "-1", "WITHSCORES"]),
                pairs(&[("d", 30.0)])
            );
            let o = run_full(&mut e, &["ZINTERSTORE", "d", "2", "z1", "nokey"], true, 1);
            assert_eq!(o.reply, Reply::Int(0));
            assert_eq!(events(&o), ["del"]);
            assert!(!exists(&e, "d"));
            // The destination may be a source.
            assert_eq!(
                run(&mut e, &["ZUNIONSTORE", "z1", "2", "z1", "z1"]),
                Reply::Int(3)
            );
            assert_eq!(run(&mut e, &["ZSCORE", "z1", "c"]), Reply::Double(6.0));
        }
    }

    #[test]
    fn set_operation_infinities() {
        let mut e = engine();
        run(&mut e, &["ZADD", "p", "inf", "a", "1", "b"]);
        run(&mut e, &["ZADD", "n", "-inf", "a", "1", "b"]);
        assert_eq!(
            run(&mut e, &["ZUNION", "2", "p", "n", "WITHSCORES"]),
            pairs(&[("a", 0.0), ("b", 2.0)])
        );
        assert_eq!(
            run(
                &mut e,
                &["ZINTER", "2", "p", "n", "WEIGHTS", "0", "1", "WITHSCORES"]
            ),
            pairs(&[("a", f64::NEG_INFINITY), ("b", 1.0)])
        );
        assert_eq!(
            run(&mut e, &["ZUNION", "1", "p", "WEIGHTS", "0", "WITHSCORES"]),
            pairs(&[("a", 0.0), ("b", 0.0)])
        );
    }

    #[test]
    fn set_operation_errors() {
        let mut e = engine();
        run(&mut e, &["ZADD", "z", "1", "a"]);
        run(&mut e, &["SET", "str", "x"]);
        let cases: &[(&[&str], &str)] = &[
            (
                &["ZUNIONSTORE", "d", "0", "z"],
                "ERR at least 1 input key is needed for 'zunionstore' command",
            ),
            (
                &["ZUNION", "-1", "z"],
                "ERR at least 1 input key is needed for 'zunion' command",
            ),
            (
                &["ZINTERCARD", "0", "z"],
                "ERR at least 1 input key is needed for 'zintercard' command",
            ),
            (
                &["ZUNION", "abc", "z"],
                "ERR value is not an integer or out of range",
            ),
            (&["ZUNION", "2", "z"], "ERR syntax error"),
            (&["ZUNION", "1", "z", "WEIGHTS"], "ERR syntax error"),
            (
                &["ZUNION", "1", "z", "WEIGHTS", "x"],
                "ERR weight value is not a float",
            ),
            (
                &["ZUNION", "1", "z", "WEIGHTS", "1", "2"],
                "ERR syntax error",
            ),
            (
                &["ZUNION", "1", "z", "AGGREGATE", "avg"],
                "ERR syntax error",
            ),
            (
                &["ZUNIONSTORE", "d", "1", "z", "WITHSCORES"],
                "ERR syntax error",
            ),
            (&["ZDIFF", "1", "z", "WEIGHTS", "1"], "ERR syntax error"),
            (
                &["ZINTERCARD", "1", "z", "LIMIT", "-1"],
                "ERR LIMIT can't be negative",
            ),
            (
                &["ZINTERCARD", "1", "z", "LIMIT", "x"],
                "ERR LIMIT can't be negative",
            ),
            (&["ZINTERCARD", "1", "z", "WITHSCORES"], "ERR syntax error"),
            (
                &["ZUNION", "1", "str", "WEIGHTS", "x"],
                "WRONGTYPE Operation against a key holding the wrong kind of value",
            ),
            (
                &["ZDIFFSTORE", "d", "2", "z", "str"],
                "WRONGTYPE Operation against a key holding the wrong kind of value",
            ),
        ];
        for (args, want) in cases {
            assert_eq!(err_text(&run(&mut e, args)), *want, "{args:?}");
        }
    }

    #[test]
    fn pops() {
        for mut e in both() {
            run(
                &mut e,
                &["ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d"],
            );
            let o = run_full(&mut e, &["ZPOPMIN", "z"], true, 1);
            assert_eq!(o.reply, Reply::Array(vec![bulk("a"), Reply::Double(1.0)]));
            assert_eq!(events(&o), ["zpopmin"]);
            assert_eq!(
                run(&mut e, &["ZPOPMAX", "z", "2"]),
                pairs(&[("d", 4.0), ("c", 3.0)])
            );
            assert_eq!(run(&mut e, &["ZPOPMAX", "z", "0"]), arr(&[]));
            let o = run_full(&mut e, &["ZPOPMIN", "z", "10"], true, 1);
            assert_eq!(o.reply, pairs(&[("b", 2.0)]));
            assert_eq!(events(&o), ["zpopmin", "del"]);
            assert!(!exists(&e, "z"));
            assert_eq!(run(&mut e, &["ZPOPMIN", "z"]), arr(&[]));
            assert_eq!(
                err_text(&run(&mut e, &["ZPOPMIN", "z", "-1"])),
                "ERR value is out of range, must be positive"
            );
            assert_eq!(
                err_text(&run(&mut e, &["ZPOPMIN", "z", "x"])),
                "ERR value is out of range, must be positive"
            );
            assert_eq!(
                err_text(&run(&mut e, &["ZPOPMIN", "z", "1", "2"])),
                "ERR syntax error"
            );
            run(&mut e, &["SET", "s", "x"]);
            assert!(err_text(&run(&mut e, &["ZPOPMAX", "s", "0"])).starts_with("WRONGTYPE"));
        }
    }

    #[test]
    fn zmpop() {
        let mut e = engine();
        run(&mut e, &["ZADD", "z", "1", "a", "2", "b", "3", "c"]);
        run(&mut e, &["SET", "s", "x"]);
        let nested = |key: &str, items: &[(&str, f64)]| {
            Reply::Array(vec![
                bulk(key),
                Reply::Array(
                    items
                        .iter()
                        .map(|(m, s)| Reply::Array(vec![bulk(m), Reply::Double(*s)]))
                        .collect(),
                ),
            ])
        };
        assert_eq!(
            run(&mut e, &["ZMPOP", "2", "nokey", "z", "MAX"]),
            nested("z", &[("c", 3.0)])
        );
        assert_eq!(
            run(&mut e, &["ZMPOP", "1", "z", "min", "COUNT", "5"]),
            nested("z", &[("a", 1.0), ("b", 2.0)])
        );
        assert_eq!(run(&mut e, &["ZMPOP", "1", "z", "MIN"]), Reply::NilArray);
        let cases: &[(&[&str], &str)] = &[
            (
                &["ZMPOP", "0", "z", "MIN"],
                "ERR numkeys should be greater than 0",
            ),
            (
                &["ZMPOP", "x", "z", "MIN"],
                "ERR numkeys should be greater than 0",
            ),
            (&["ZMPOP", "2", "z", "MIN"], "ERR syntax error"),
            (&["ZMPOP", "1", "z", "FOO"], "ERR syntax error"),
            (
                &["ZMPOP", "1", "z", "MIN", "COUNT", "0"],
                "ERR count should be greater than 0",
            ),
            (&["ZMPOP", "1", "z", "MIN", "COUNT"], "ERR syntax error"),
            (
                &["ZMPOP", "1", "z", "MIN", "COUNT", "1", "COUNT", "1"],
                "ERR syntax error",
            ),
            (
                &["ZMPOP", "9223372036854775807", "z", "MIN"],
                "ERR syntax error",
            ),
            (
                &["ZMPOP", "2", "nokey", "s", "MIN"],
                "WRONGTYPE Operation against a key holding the wrong kind of value",
            ),
        ];
        for (args, want) in cases {
            assert_eq!(err_text(&run(&mut e, args)), *want, "{args:?}");
        }
    }

    #[test]
    fn blocking_pops() {
        let mut e = engine();
        run(&mut e, &["ZADD", "z", "1", "a", "2", "b"]);
        assert_eq!(
            run(&mut e, &["BZPOPMIN", "nokey", "z", "0"]),
            Reply::Array(vec![bulk("z"), bulk("a"), Reply::Double(1.0)])
        );
        assert_eq!(
            run(&mut e, &["BZMPOP", "0.5", "1", "z", "MAX", "COUNT", "3"]),
            Reply::Array(vec![
                bulk("z"),
                Reply::Array(vec![Reply::Array(vec![bulk("b"), Reply::Double(2.0)])])
            ])
        );
        let want = Reply::WouldBlock {
            keys: vec![Bytes::from("k1"), Bytes::from("k2")],
            timeout_ms: 1500,
        };
        assert_eq!(run(&mut e, &["BZPOPMAX", "k1", "k2", "1.5"]), want);
        assert_eq!(
            run(&mut e, &["BZMPOP", "1.5", "2", "k1", "k2", "MIN"]),
            want
        );
        assert_eq!(
            run(&mut e, &["BZPOPMIN", "k1", "0"]),
            Reply::WouldBlock {
                keys: vec![Bytes::from("k1")],
                timeout_ms: 0
            }
        );
        assert_eq!(
            run_full(&mut e, &["BZPOPMIN", "k1", "0"], false, 1).reply,
            Reply::NilArray
        );
        assert_eq!(
            run_full(&mut e, &["BZMPOP", "0", "1", "k1", "MIN"], false, 1).reply,
            Reply::NilArray
        );
        // A tiny negative timeout truncates to 0 ms, as in Redis: forever.
        assert_eq!(
            run(&mut e, &["BZPOPMIN", "k1", "-0.0001"]),
            Reply::WouldBlock {
                keys: vec![Bytes::from("k1")],
                timeout_ms: 0
            }
        );
        run(&mut e, &["SET", "s", "x"]);
        let cases: &[(&[&str], &str)] = &[
            (
                &["BZPOPMIN", "k1", "x"],
                "ERR timeout is not a float or out of range",
            ),
            (
                &["BZPOPMIN", "k1", " 1"],
                "ERR timeout is not a float or out of range",
            ),
            (&["BZPOPMIN", "k1", "-1"], "ERR timeout is negative"),
            (&["BZPOPMIN", "k1", "inf"], "ERR timeout is negative"),
            (&["BZPOPMIN", "k1", "1e30"], "ERR timeout is negative"),
            (
                &["BZPOPMIN", "k1", "s", "0"],
                "WRONGTYPE Operation against a key holding the wrong kind of value",
            ),
            (
                &["BZMPOP", "x", "0", "z", "MIN"],
                "ERR numkeys should be greater than 0",
            ),
            (
                &["BZMPOP", "x", "1", "z", "MIN"],
                "ERR timeout is not a float or out of range",
            ),
            (
                &["BZMPOP", "-1", "1", "z", "MIN", "COUNT", "0"],
                "ERR count should be greater than 0",
            ),
            (
                &["BZMPOP", "0", "1", "z"],
                "ERR wrong number of arguments for 'bzmpop' command",
            ),
        ];
        for (args, want) in cases {
            assert_eq!(err_text(&run(&mut e, args)), *want, "{args:?}");
        }
    }

    #[test]
    fn zrandmember() {
        for mut e in both() {
            run(&mut e, &["ZADD", "z", "1", "a", "2", "b", "3", "c"]);
            match run(&mut e, &["ZRANDMEMBER", "z"]) {
                Reply::Bulk(b) => assert!([&b"a"[..], b"b", b"c"].contains(&&b[..])),
                other => panic!("{other:?}"),
            }
            assert_eq!(run(&mut e, &["ZRANDMEMBER", "nokey"]), Reply::Nil);
            assert_eq!(run(&mut e, &["ZRANDMEMBER", "nokey", "3"]), arr(&[]));
            assert_eq!(run(&mut e, &["ZRANDMEMBER", "z", "0"]), arr(&[]));
            // Asking for the whole set returns it highest first, as Redis.
            assert_eq!(
                run(&mut e, &["ZRANDMEMBER", "z", "5", "WITHSCORES"]),
                pairs(&[("c", 3.0), ("b", 2.0), ("a", 1.0)])
            );
            match run(&mut e, &["ZRANDMEMBER", "z", "-7", "WITHSCORES"]) {
                Reply::Pairs(p) => {
                    assert_eq!(p.len(), 7);
                    for (m, s) in p {
                        let want = match m {
                            Reply::Bulk(b) if &b[..] == b"a" => 1.0,
                            Reply::Bulk(b) if &b[..] == b"b" => 2.0,
                            _ => 3.0,
                        };
                        assert_eq!(s, Reply::Double(want));
                    }
                }
                other => panic!("{other:?}"),
            }
            match run(&mut e, &["ZRANDMEMBER", "z", "2"]) {
                Reply::Array(v) => {
                    assert_eq!(v.len(), 2);
                    assert_ne!(v[0], v[1]);
                }
                other => panic!("{other:?}"),
            }
            // The same seed picks the same members.
            let a = run_full(&mut e, &["ZRANDMEMBER", "z", "-20"], true, 99).reply;
            let b = run_full(&mut e, &["ZRANDMEMBER", "z", "-20"], true, 99).reply;
            assert_eq!(a, b);
            let cases: &[(&[&str], &str)] = &[
                (&["ZRANDMEMBER", "z", "x"], "ERR value is not an integer or out of range"),
                (&["ZRANDMEMBER", "z", "1", "WITHSCORE"], "ERR syntax error"),
                (&["ZRANDMEMBER", "z", "1", "WITHSCORES", "x"], "ERR syntax error"),
                (
                    &["ZRANDMEMBER", "z", "-9223372036854775808"],
                    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
                ),
                (&["ZRANDMEMBER", "nokey", "-4611686018427387905", "WITHSCORES"], "ERR value is out of range"),
                (&["ZRANDMEMBER", "z", "-100000000000"], "ERR value is out of range"),
            ];
            for (args, want) in cases {
                assert_eq!(err_text(&run(&mut e, args)), *want, "{args:?}");
            }
        }
    }

    #[test]
    fn zscan_small_and_large() {
        let mut e = engine();
        run(&mut e, &["ZADD", "z", "1.5", "a", "2", "b", "3", "c"]);
        let all = Reply::Array(vec![bulk("0"), arr(&["a", "1.5", "b", "2", "c", "3"])]);
        assert_eq!(run(&mut e, &["ZSCAN", "z", "0"]), all);
        assert_eq!(run(&mut e, &["ZSCAN", "z", "7"]), all);
        assert_eq!(
            run(&mut e, &["ZSCAN", "z", "0", "MATCH", "[ab]", "COUNT", "1"]),
            Reply::Array(vec![bulk("0"), arr(&["a", "1.5", "b", "2"])])
        );
        assert_eq!(
            run(&mut e, &["ZSCAN", "nokey", "0", "COUNT", "0"]),
            Reply::Array(vec![bulk("0"), arr(&[])])
        );
        assert_eq!(
            err_text(&run(&mut e, &["ZSCAN", "z", "x"])),
            "ERR invalid cursor"
        );
        assert_eq!(
            err_text(&run(&mut e, &["ZSCAN", "z", "0", "COUNT", "0"])),
            "ERR syntax error"
        );
        assert_eq!(
            err_text(&run(&mut e, &["ZSCAN", "z", "0", "TYPE", "zset"])),
            "ERR syntax error"
        );

        let mut e = large_engine();
        for i in 0..40 {
            run(&mut e, &["ZADD", "z", &i.to_string(), &format!("m{i}")]);
        }
        let mut seen = std::collections::BTreeSet::new();
        let mut cursor = "0".to_string();
        loop {
            let Reply::Array(parts) = run(&mut e, &["ZSCAN", "z", &cursor, "COUNT", "7"]) else {
                panic!()
            };
            let (Reply::Bulk(c), Reply::Array(items)) = (&parts[0], &parts[1]) else {
                panic!()
            };
            for pair in items.chunks(2) {
                let (Reply::Bulk(m), Reply::Bulk(s)) = (&pair[0], &pair[1]) else {
                    panic!()
                };
                assert_eq!(&s[..], m[1..].as_ref());
                seen.insert(m.clone());
            }
            cursor = String::from_utf8(c.to_vec()).unwrap();
            if cursor == "0" {
                break;
            }
        }
        assert_eq!(seen.len(), 40);
    }

    #[test]
    fn large_form_matches_small_form() {
        let script: &[&[&str]] = &[
            &[
                "ZADD", "z", "5", "e", "1", "a", "3", "c", "2", "b", "4", "d", "3", "cc", "-0",
                "neg", "0", "zero",
            ],
            &["ZRANGE", "z", "0", "-1", "WITHSCORES"],
            &["ZRANGE", "z", "2", "-3", "REV"],
            &[
                "ZRANGEBYSCORE",
                "z",
                "(0",
                "3",
                "WITHSCORES",
                "LIMIT",
                "1",
                "10",
            ],
            &["ZREVRANGEBYSCORE", "z", "3", "-inf"],
            &["ZRANGEBYLEX", "z", "-", "+"],
            &["ZRANGEBYLEX", "z", "[b", "(d", "LIMIT", "1", "2"],
            &["ZREVRANGEBYLEX", "z", "(d", "[b"],
            &["ZLEXCOUNT", "z", "[b", "[d"],
            &["ZRANK", "z", "cc"],
            &["ZREVRANK", "z", "neg"],
            &["ZCOUNT", "z", "0", "0"],
            &["ZINCRBY", "z", "10", "a"],
            &["ZREMRANGEBYRANK", "z", "1", "2"],
            &["ZRANGE", "z", "0", "-1", "WITHSCORES"],
            &["ZPOPMAX", "z", "2"],
            &["ZPOPMIN", "z"],
            &["ZRANGE", "z", "0", "-1", "WITHSCORES"],
        ];
        let mut small = engine();
        let mut large = large_engine();
        for args in script {
            assert_eq!(run(&mut small, args), run(&mut large, args), "{args:?}");
        }
        assert_eq!(encoding(&large, "z"), "skiplist");
    }

    #[test]
    fn strtod_reads_like_c() {
        let t = |s: &str| {
            let r = strtod(s.as_bytes());
            (r.value, r.used, r.erange)
        };
        assert_eq!(t("1.5x"), (1.5, 3, false));
        assert_eq!(t("  -2e3"), (-2000.0, 6, false));
        assert_eq!(t("5."), (5.0, 2, false));
        assert_eq!(t(".5"), (0.5, 2, false));
        assert_eq!(t("1e"), (1.0, 1, false));
        assert_eq!(t("1e+"), (1.0, 1, false));
        assert_eq!(t("0x10"), (16.0, 4, false));
        assert_eq!(t("0x1p3"), (8.0, 5, false));
        assert_eq!(t("0x.8"), (0.5, 4, false));
        assert_eq!(t("0xg"), (0.0, 1, false));
        assert_eq!(t("-Infinity"), (f64::NEG_INFINITY, 9, false));
        assert_eq!(t("inFx"), (f64::INFINITY, 3, false));
        assert_eq!(t("abc").1, 0);
        assert_eq!(t("").1, 0);
        assert_eq!(t("-").1, 0);
        assert!(t("nan(123)").0.is_nan());
        assert_eq!(t("nan(123)").1, 8);
        assert_eq!(t("1e400"), (f64::INFINITY, 5, true));
        assert_eq!(t("1e-400"), (0.0, 6, true));
        assert!(t("1e-310").2, "a subnormal result is ERANGE, as glibc");
        assert_eq!(parse_f64(b"1e-310"), Some(1e-310));
        assert_eq!(parse_f64(b"+5"), Some(5.0));
        assert_eq!(parse_f64(b"1e400"), None);
        assert_eq!(parse_f64(b"1\x00"), None);
        assert_eq!(parse_score_item(b"("), Some((0.0, true)));
        assert_eq!(parse_score_item(b"1\x00junk"), Some((1.0, false)));
        assert_eq!(parse_score_item(b"( 1"), Some((1.0, true)));
        assert_eq!(parse_score_item(b"-"), None);
        assert_eq!(parse_lex_item(b"+\x00x"), Some(LexBound::PosInf));
        assert_eq!(parse_lex_item(b"(a"), Some(LexBound::Excl(b"a".to_vec())));
        assert_eq!(parse_lex_item(b"["), Some(LexBound::Incl(Vec::new())));
        assert_eq!(parse_timeout(b"9223372036854"), Ok(9_223_372_036_854_000));
    }

    #[test]
    fn movable_keys() {
        let v = |s: &[&str]| -> Vec<Bytes> {
            s.iter()
                .map(|a| Bytes::copy_from_slice(a.as_bytes()))
                .collect()
        };
        let keys = |name: &str, args: &[&str]| {
            cmd::lookup(name.as_bytes())
                .unwrap()
                .key_positions(&v(args))
        };
        assert_eq!(
            keys(
                "zunionstore",
                &["zunionstore", "d", "2", "a", "b", "WEIGHTS", "1", "2"]
            ),
            vec![1, 3, 4]
        );
        assert_eq!(keys("zinter", &["zinter", "2", "a", "b"]), vec![2, 3]);
        assert_eq!(keys("zmpop", &["zmpop", "1", "a", "MIN"]), vec![2]);
        assert_eq!(
            keys("bzmpop", &["bzmpop", "0", "2", "a", "b", "MIN"]),
            vec![3, 4]
        );
        assert_eq!(keys("bzpopmin", &["bzpopmin", "a", "b", "0"]), vec![1, 2]);
        assert_eq!(
            keys("zrangestore", &["zrangestore", "d", "s", "0", "1"]),
            vec![1, 2]
        );
        assert_eq!(keys("zunion", &["zunion", "x", "a"]), Vec::<usize>::new());
    }
}
