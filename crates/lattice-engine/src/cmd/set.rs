//! Set commands (`t_set.c`): SADD, SREM, SMEMBERS, SISMEMBER, SMISMEMBER,
//! SCARD, SPOP, SRANDMEMBER, SMOVE, SINTER/SINTERSTORE/SINTERCARD,
//! SUNION/SUNIONSTORE, SDIFF/SDIFFSTORE and SSCAN. The value type and its
//! encodings (intset, listpack, table) live in `types/set.rs`.
//!
//! Random picks (SPOP, SRANDMEMBER) draw positions from the call's seeded
//! RNG over the set's deterministic order, so a replayed SPOP removes the same
//! members on every replica.

use bytes::Bytes;
use rand::Rng;

use super::flags::*;
use super::hash::{arg_random_count, parse_scan_cursor};
use super::keys::scan_options;
use super::{CommandSpec, Group};
use crate::config::EngineConfig;
use crate::effect::EventClass;
use crate::exec::Exec;
use crate::glob::glob_match;
use crate::keyspace::Entry;
use crate::number::parse_i64;
use crate::types::set::{Member, SetValue};
use crate::value::Value;
use crate::{CmdError, Reply};

type R = Result<Reply, CmdError>;

fn arg(args: &[Bytes], i: usize) -> &[u8] {
    args.get(i).map_or(&[][..], |b| &b[..])
}

fn member_reply(m: Member<'_>) -> Reply {
    m.with_bytes(Reply::bulk)
}

/// Parses a count as Redis's `getPositiveLongFromObjectOrReply`, whose
/// message covers both a non-integer and a negative value.
fn arg_positive(raw: &[u8], msg: &str) -> Result<u64, CmdError> {
    match parse_i64(raw) {
        Some(n) if n >= 0 => Ok(n.unsigned_abs()),
        _ => Err(CmdError::err(msg)),
    }
}

fn sadd(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let key = arg(args, 1);
    let cfg = ex.config;
    let members = args.get(2..).unwrap_or_default();
    let s = ex.set_or_create(key)?;
    if s.is_empty() {
        // A new key (sets are never left empty): size it as setTypeCreate.
        if let Some(first) = members.first() {
            *s = SetValue::with_hint(first, members.len(), cfg);
        }
    }
    let added = members.iter().filter(|m| s.add(m, cfg)).count();
    if added > 0 {
        ex.modified(key);
        ex.notify(EventClass::Set, "sadd", key);
    }
    Ok(Reply::Int(added as i64))
}

fn srem(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let key = arg(args, 1);
    let Some(s) = ex.write_set(key)? else {
        return Ok(Reply::Int(0));
    };
    let mut removed = 0;
    for m in args.get(2..).unwrap_or_default() {
        if s.remove(m) {
            removed += 1;
            if s.is_empty() {
                break;
            }
        }
    }
    if removed > 0 {
        ex.modified(key);
        ex.notify(EventClass::Set, "srem", key);
        ex.delete_if_empty(key);
    }
    Ok(Reply::Int(removed))
}

fn smembers(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let s = ex.read_set(arg(args, 1))?;
    Ok(Reply::Set(s.map_or_else(Vec::new, |s| {
        s.iter().map(member_reply).collect()
    })))
}

fn sismember(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let s = ex.read_set(arg(args, 1))?;
    Ok(Reply::Int(i64::from(
        s.is_some_and(|s| s.contains(arg(args, 2))),
    )))
}

fn smismember(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let s = ex.read_set(arg(args, 1))?;
    let members = args.get(2..).unwrap_or_default();
    Ok(Reply::Array(
        members
            .iter()
            .map(|m| Reply::Int(i64::from(s.is_some_and(|s| s.contains(m)))))
            .collect(),
    ))
}

fn scard(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    Ok(Reply::Int(
        ex.read_set(arg(args, 1))?.map_or(0, SetValue::len) as i64,
    ))
}

fn spop(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    match args.len() {
        3 => return spop_count(ex, args),
        n if n > 3 => return Err(CmdError::Syntax),
        _ => {}
    }
    let key = arg(args, 1);
    let mut rng = ex.rng.clone();
    let Some(s) = ex.write_set(key)? else {
        return Ok(Reply::Nil);
    };
    if s.is_empty() {
        return Ok(Reply::Nil);
    }
    let i = rng.gen_range(0..s.len());
    let Some(m) = s.indexed().get(i).map(|m| m.to_vec()) else {
        return Ok(Reply::Nil);
    };
    s.remove(&m);
    ex.rng = rng;
    ex.notify(EventClass::Set, "spop", key);
    ex.delete_if_empty(key);
    ex.modified(key);
    Ok(Reply::bulk(&m))
}

fn spop_count(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let key = arg(args, 1);
    let count = arg_positive(arg(args, 2), "value is out of range, must be positive")?;
    let mut rng = ex.rng.clone();
    let Some(s) = ex.write_set(key)? else {
        return Ok(Reply::Set(Vec::new()));
    };
    if count == 0 {
        return Ok(Reply::Set(Vec::new()));
    }
    let size = s.len();
    if count >= size as u64 {
        // The whole set, in its order (ascending for an intset, as Redis).
        let all: Vec<Reply> = s.iter().map(member_reply).collect();
        ex.notify(EventClass::Set, "spop", key);
        ex.delete(key);
        ex.notify(EventClass::Generic, "del", key);
        return Ok(Reply::Set(all));
    }
    let positions = rand::seq::index::sample(&mut rng, size, count as usize);
    let picked: Vec<Vec<u8>> = {
        let idx = s.indexed();
        positions
            .iter()
            .filter_map(|i| idx.get(i))
            .map(|m| m.to_vec())
            .collect()
    };
    for m in &picked {
        s.remove(m);
    }
    ex.rng = rng;
    ex.notify(EventClass::Set, "spop", key);
    ex.modified(key);
    Ok(Reply::Set(picked.iter().map(|m| Reply::bulk(m)).collect()))
}

fn srandmember(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    match args.len() {
        3 => return srandmember_count(ex, args),
        n if n > 3 => return Err(CmdError::Syntax),
        _ => {}
    }
    let mut rng = ex.rng.clone();
    let Some(s) = ex.read_set(arg(args, 1))? else {
        return Ok(Reply::Nil);
    };
    if s.is_empty() {
        return Ok(Reply::Nil);
    }
    let i = rng.gen_range(0..s.len());
    Ok(s.indexed().get(i).map_or(Reply::Nil, member_reply))
}

fn srandmember_count(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let count = arg_random_count(arg(args, 2))?;
    let mut rng = ex.rng.clone();
    let Some(s) = ex.read_set(arg(args, 1))? else {
        return Ok(Reply::Array(Vec::new()));
    };
    let size = s.len();
    if count == 0 || size == 0 {
        return Ok(Reply::Array(Vec::new()));
    }
    let unique = count > 0;
    let want = count.unsigned_abs();
    if unique && want >= size as u64 {
        // The whole set, in its order (ascending for an intset, as Redis).
        return Ok(Reply::Array(s.iter().map(member_reply).collect()));
    }
    let idx = s.indexed();
    let positions: Vec<usize> = if !unique || want == 1 {
        // With repetitions: each pick samples the whole set.
        (0..want).map(|_| rng.gen_range(0..size)).collect()
    } else {
        rand::seq::index::sample(&mut rng, size, want as usize).into_vec()
    };
    Ok(Reply::Array(
        positions
            .into_iter()
            .filter_map(|i| idx.get(i))
            .map(member_reply)
            .collect(),
    ))
}

fn smove(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let (src, dst, member) = (arg(args, 1), arg(args, 2), arg(args, 3));
    let cfg = ex.config;
    // Redis: a missing source answers 0 before any type check.
    let src_is_set = match ex.lookup_write(src) {
        None => return Ok(Reply::Int(0)),
        Some(e) => matches!(e.value, Value::Set(_)),
    };
    let dst_is_set = ex
        .lookup_write(dst)
        .map(|e| matches!(e.value, Value::Set(_)));
    if !src_is_set || dst_is_set == Some(false) {
        return Err(CmdError::WrongType);
    }
    if src == dst {
        let member_of = ex.write_set(src)?.is_some_and(|s| s.contains(member));
        return Ok(Reply::Int(i64::from(member_of)));
    }
    if !ex.write_set(src)?.is_some_and(|s| s.remove(member)) {
        return Ok(Reply::Int(0));
    }
    ex.notify(EventClass::Set, "srem", src);
    ex.delete_if_empty(src);
    ex.modified(src);
    if ex.set_or_create(dst)?.add(member, cfg) {
        ex.modified(dst);
        ex.notify(EventClass::Set, "sadd", dst);
    }
    Ok(Reply::Int(1))
}

/// The sets at `keys`, `None` for a missing key; `WrongType` if any key holds
/// another type (Redis checks every key, even after a missing one). Calls
/// `f` with them all borrowed at once.
fn with_sets<T>(
    ex: &mut Exec<'_>,
    keys: &[Bytes],
    f: impl FnOnce(&[Option<&SetValue>]) -> T,
) -> Result<T, CmdError> {
    // First pass: type checks, hit/miss counting, expiry (as lookupKeyRead).
    for k in keys {
        ex.read_set(k)?;
    }
    let now = ex.now_ms;
    let db = &*ex.db_mut();
    let sets: Vec<Option<&SetValue>> = keys
        .iter()
        .map(|k| match db.get(k) {
            Some(Entry {
                value: Value::Set(s),
                expire_at,
                ..
            }) if *expire_at == 0 || *expire_at > now => Some(&**s),
            _ => None,
        })
        .collect();
    Ok(f(&sets))
}

/// Members of the intersection, in the order of the smallest set; stops
/// after `limit` members (0: no limit).
fn intersect(sets: &[Option<&SetValue>], limit: usize) -> Vec<Vec<u8>> {
    let Some(mut present) = sets.iter().copied().collect::<Option<Vec<&SetValue>>>() else {
        return Vec::new();
    };
    present.sort_by_key(|s| s.len());
    let Some((first, rest)) = present.split_first() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for m in first.iter() {
        if m.with_bytes(|b| rest.iter().all(|s| s.contains(b))) {
            out.push(m.to_vec());
            if limit != 0 && out.len() >= limit {
                break;
            }
        }
    }
    out
}

fn union(sets: &[Option<&SetValue>], cfg: &EngineConfig) -> SetValue {
    let mut out = SetValue::default();
    for s in sets.iter().flatten() {
        for m in s.iter() {
            m.with_bytes(|b| out.add(b, cfg));
        }
    }
    out
}

fn difference(sets: &[Option<&SetValue>], cfg: &EngineConfig) -> SetValue {
    let mut out = SetValue::default();
    let Some((Some(first), rest)) = sets.split_first() else {
        return out;
    };
    for m in first.iter() {
        m.with_bytes(|b| {
            if !rest.iter().flatten().any(|s| s.contains(b)) {
                out.add(b, cfg);
            }
        });
    }
    out
}

fn from_members(members: &[Vec<u8>], cfg: &EngineConfig) -> SetValue {
    let mut out = SetValue::default();
    for m in members {
        out.add(m, cfg);
    }
    out
}

/// Stores a *STORE result: replaces `dst` (any type, TTL cleared) or deletes
/// it when the result is empty, as Redis does.
fn store(ex: &mut Exec<'_>, dst: &[u8], result: SetValue, event: &'static str) -> R {
    let n = result.len();
    if n > 0 {
        ex.set_key(dst, Value::Set(Box::new(result)), false);
        ex.notify(EventClass::Set, event, dst);
    } else if ex.delete(dst) {
        ex.notify(EventClass::Generic, "del", dst);
    }
    Ok(Reply::Int(n as i64))
}

fn set_reply(s: &SetValue) -> Reply {
    Reply::Set(s.iter().map(member_reply).collect())
}

fn sinter(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let members = with_sets(ex, args.get(1..).unwrap_or_default(), |sets| {
        intersect(sets, 0)
    })?;
    Ok(Reply::Set(members.iter().map(|m| Reply::bulk(m)).collect()))
}

fn sinterstore(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let cfg = ex.config;
    let result = with_sets(ex, args.get(2..).unwrap_or_default(), |sets| {
        from_members(&intersect(sets, 0), cfg)
    })?;
    store(ex, arg(args, 1), result, "sinterstore")
}

fn sintercard(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let numkeys = match parse_i64(arg(args, 1)) {
        Some(n) if n >= 1 => n,
        _ => return Err(CmdError::err("numkeys should be greater than 0")),
    };
    let avail = args.len().saturating_sub(2);
    if numkeys > avail as i64 {
        return Err(CmdError::err(
            "Number of keys can't be greater than number of args",
        ));
    }
    let end = 2 + numkeys as usize;
    let mut limit = 0u64;
    let mut i = end;
    while i < args.len() {
        if arg(args, i).eq_ignore_ascii_case(b"LIMIT") && i + 1 < args.len() {
            limit = arg_positive(arg(args, i + 1), "LIMIT can't be negative")?;
            i += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let keys = args.get(2..end).unwrap_or_default();
    let n = with_sets(ex, keys, |sets| intersect(sets, limit).len())?;
    Ok(Reply::Int(n as i64))
}

/// Key positions of SINTERCARD: `numkeys` keys after the count.
fn sintercard_keys(args: &[Bytes]) -> Vec<usize> {
    match args.get(1).and_then(|a| parse_i64(a)) {
        Some(n) if n >= 1 && n <= args.len().saturating_sub(2) as i64 => {
            (2..2 + n as usize).collect()
        }
        _ => Vec::new(),
    }
}

fn sunion(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let cfg = ex.config;
    with_sets(ex, args.get(1..).unwrap_or_default(), |sets| {
        set_reply(&union(sets, cfg))
    })
}

fn sunionstore(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let cfg = ex.config;
    let result = with_sets(ex, args.get(2..).unwrap_or_default(), |sets| {
        union(sets, cfg)
    })?;
    store(ex, arg(args, 1), result, "sunionstore")
}

fn sdiff(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let cfg = ex.config;
    with_sets(ex, args.get(1..).unwrap_or_default(), |sets| {
        set_reply(&difference(sets, cfg))
    })
}

fn sdiffstore(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let cfg = ex.config;
    let result = with_sets(ex, args.get(2..).unwrap_or_default(), |sets| {
        difference(sets, cfg)
    })?;
    store(ex, arg(args, 1), result, "sdiffstore")
}

fn sscan(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let cursor = parse_scan_cursor(arg(args, 2))?;
    let Some(s) = ex.read_set(arg(args, 1))? else {
        return Ok(Reply::Array(vec![
            Reply::bulk_str("0"),
            Reply::Array(Vec::new()),
        ]));
    };
    let (pattern, count, _) = scan_options(args, 3, false)?;
    let mut items = Vec::new();
    let next = s.scan(cursor, count, |m| {
        m.with_bytes(|b| {
            if pattern.as_ref().is_none_or(|p| glob_match(p, b)) {
                items.push(Reply::bulk(b));
            }
        });
    });
    Ok(Reply::Array(vec![
        Reply::bulk_str(&next.to_string()),
        Reply::Array(items),
    ]))
}

const W: u32 = WRITE | DENYOOM;

/// Set command specs.
pub(crate) const SPECS: &[CommandSpec] = &[
    CommandSpec::new("sadd", -3, W | FAST, (1, 1, 1), Group::Set, Some(sadd))
        .with_summary("Adds one or more members to a set. Creates the key if it doesn't exist."),
    CommandSpec::new("srem", -3, WRITE | FAST, (1, 1, 1), Group::Set, Some(srem))
        .with_summary("Removes one or more members from a set. Deletes the set if the last member was removed."),
    CommandSpec::new("smembers", 2, READONLY, (1, 1, 1), Group::Set, Some(smembers))
        .with_summary("Returns all members of a set."),
    CommandSpec::new("sismember", 3, READONLY | FAST, (1, 1, 1), Group::Set, Some(sismember))
        .with_summary("Determines whether a member belongs to a set."),
    CommandSpec::new("smismember", -3, READONLY | FAST, (1, 1, 1), Group::Set, Some(smismember))
        .with_summary("Determines whether multiple members belong to a set."),
    CommandSpec::new("scard", 2, READONLY | FAST, (1, 1, 1), Group::Set, Some(scard))
        .with_summary("Returns the number of members in a set."),
    CommandSpec::new("spop", -2, WRITE | FAST, (1, 1, 1), Group::Set, Some(spop))
        .with_summary("Returns one or more random members from a set after removing them. Deletes the set if the last member was popped."),
    CommandSpec::new("srandmember", -2, READONLY, (1, 1, 1), Group::Set, Some(srandmember))
        .with_summary("Get one or multiple random members from a set"),
    CommandSpec::new("smove", 4, WRITE | FAST, (1, 2, 1), Group::Set, Some(smove))
        .with_summary("Moves a member from one set to another."),
    CommandSpec::new("sinter", -2, READONLY, (1, -1, 1), Group::Set, Some(sinter))
        .with_summary("Returns the intersect of multiple sets."),
    CommandSpec::new("sinterstore", -3, W, (1, -1, 1), Group::Set, Some(sinterstore))
        .with_summary("Stores the intersect of multiple sets in a key."),
    CommandSpec::new("sintercard", -3, READONLY, (0, 0, 0), Group::Set, Some(sintercard))
        .with_getkeys(sintercard_keys)
        .with_summary("Returns the number of members of the intersect of multiple sets."),
    CommandSpec::new("sunion", -2, READONLY, (1, -1, 1), Group::Set, Some(sunion))
        .with_summary("Returns the union of multiple sets."),
    CommandSpec::new("sunionstore", -3, W, (1, -1, 1), Group::Set, Some(sunionstore))
        .with_summary("Stores the union of multiple sets in a key."),
    CommandSpec::new("sdiff", -2, READONLY, (1, -1, 1), Group::Set, Some(sdiff))
        .with_summary("Returns the difference of multiple sets."),
    CommandSpec::new("sdiffstore", -3, W, (1, -1, 1), Group::Set, Some(sdiffstore))
        .with_summary("Stores the difference of multiple sets in a key."),
    CommandSpec::new("sscan", -3, READONLY, (1, 1, 1), Group::Set, Some(sscan))
        .with_summary("Iterates over members of a set."),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd;
    use crate::test_replies::{argv, arr, b, err, events, set};
    use crate::{Effect, Engine, Outcome};

    /// Runs a command as the server would: arity via `resolve`, writes
    /// through prepare/apply, reads through `read`.
    fn exec(e: &mut Engine, parts: &[&str], seed: u64) -> Outcome {
        let args = argv(parts);
        e.call(0, args, 1_000, seed, true)
    }

    fn run(e: &mut Engine, parts: &[&str]) -> Reply {
        exec(e, parts, 7).reply
    }

    /// The elements of an array or set reply as sorted strings.
    fn sorted(r: &Reply) -> Vec<String> {
        let (Reply::Array(v) | Reply::Set(v)) = r else {
            panic!("{r:?}")
        };
        let mut out: Vec<String> = v
            .iter()
            .map(|x| match x {
                Reply::Bulk(b) => String::from_utf8(b.to_vec()).unwrap(),
                other => panic!("{other:?}"),
            })
            .collect();
        out.sort();
        out
    }

    fn strs(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    /// An engine with the encoding thresholds these tests are written
    /// against pinned (redis.conf's values), whatever the defaults become.
    fn engine() -> Engine {
        Engine::new(EngineConfig {
            hash_max_listpack_entries: 128,
            hash_max_listpack_value: 64,
            set_max_intset_entries: 512,
            set_max_listpack_entries: 128,
            set_max_listpack_value: 64,
            ..EngineConfig::default()
        })
    }

    fn encoding(e: &Engine, key: &str) -> &'static str {
        e.db(0)
            .unwrap()
            .get(key.as_bytes())
            .unwrap()
            .value
            .encoding()
    }

    fn sadd_many(e: &mut Engine, key: &str, members: impl Iterator<Item = String>) -> Reply {
        let mut cmd = vec!["SADD".to_string(), key.to_string()];
        cmd.extend(members);
        let parts: Vec<&str> = cmd.iter().map(String::as_str).collect();
        run(e, &parts)
    }

    #[test]
    fn sadd_srem_smembers_scard() {
        let mut e = engine();
        assert_eq!(
            run(&mut e, &["SADD", "s", "3", "1", "2", "1"]),
            Reply::Int(3)
        );
        assert_eq!(encoding(&e, "s"), "intset");
        assert_eq!(run(&mut e, &["SMEMBERS", "s"]), set(&["1", "2", "3"]));
        assert_eq!(run(&mut e, &["SADD", "s", "2", "-5"]), Reply::Int(1));
        assert_eq!(run(&mut e, &["SMEMBERS", "s"]), set(&["-5", "1", "2", "3"]));
        assert_eq!(run(&mut e, &["SCARD", "s"]), Reply::Int(4));
        assert_eq!(run(&mut e, &["SADD", "s", "a"]), Reply::Int(1));
        assert_eq!(encoding(&e, "s"), "listpack");
        assert_eq!(
            run(&mut e, &["SMEMBERS", "s"]),
            set(&["-5", "1", "2", "3", "a"])
        );
        assert_eq!(
            run(&mut e, &["SREM", "s", "1", "a", "zz", "1"]),
            Reply::Int(2)
        );
        assert_eq!(run(&mut e, &["SCARD", "s"]), Reply::Int(3));
        assert_eq!(run(&mut e, &["SREM", "nokey", "a"]), Reply::Int(0));
        assert_eq!(run(&mut e, &["SCARD", "nokey"]), Reply::Int(0));
        assert_eq!(run(&mut e, &["SMEMBERS", "nokey"]), set(&[]));
        assert_eq!(run(&mut e, &["SREM", "s", "-5", "2", "3"]), Reply::Int(3));
        assert_eq!(run(&mut e, &["EXISTS", "s"]), Reply::Int(0));
    }

    #[test]
    fn sismember_smismember() {
        let mut e = engine();
        run(&mut e, &["SADD", "s", "a", "1"]);
        assert_eq!(run(&mut e, &["SISMEMBER", "s", "a"]), Reply::Int(1));
        assert_eq!(run(&mut e, &["SISMEMBER", "s", "1"]), Reply::Int(1));
        assert_eq!(run(&mut e, &["SISMEMBER", "s", "01"]), Reply::Int(0));
        assert_eq!(run(&mut e, &["SISMEMBER", "nokey", "a"]), Reply::Int(0));
        assert_eq!(
            run(&mut e, &["SMISMEMBER", "s", "a", "b", "1"]),
            Reply::Array(vec![Reply::Int(1), Reply::Int(0), Reply::Int(1)])
        );
        assert_eq!(
            run(&mut e, &["SMISMEMBER", "nokey", "a", "b"]),
            Reply::Array(vec![Reply::Int(0), Reply::Int(0)])
        );
    }

    #[test]
    fn wrong_type_and_arity() {
        let mut e = engine();
        run(&mut e, &["SET", "str", "v"]);
        run(&mut e, &["SADD", "s", "1"]);
        for cmd in [
            &["SADD", "str", "a"][..],
            &["SREM", "str", "a"],
            &["SMEMBERS", "str"],
            &["SISMEMBER", "str", "a"],
            &["SMISMEMBER", "str", "a"],
            &["SCARD", "str"],
            &["SPOP", "str"],
            &["SPOP", "str", "0"],
            &["SRANDMEMBER", "str"],
            &["SRANDMEMBER", "str", "0"],
            &["SMOVE", "str", "s", "a"],
            &["SMOVE", "s", "str", "1"],
            &["SINTER", "s", "nokey", "str"],
            &["SINTER", "nokey", "str"],
            &["SINTERSTORE", "d", "nokey", "str"],
            &["SINTERCARD", "2", "nokey", "str"],
            &["SUNION", "nokey", "str"],
            &["SUNIONSTORE", "d", "s", "str"],
            &["SDIFF", "nokey", "str"],
            &["SDIFF", "s", "str"],
            &["SDIFFSTORE", "d", "s", "str"],
            &["SSCAN", "str", "0"],
            &["SSCAN", "str", "0", "COUNT", "0"],
        ] {
            assert_eq!(
                run(&mut e, cmd),
                Reply::Error(CmdError::WrongType),
                "{cmd:?}"
            );
        }
        assert_eq!(run(&mut e, &["EXISTS", "d"]), Reply::Int(0));
        // SMOVE from a missing source answers 0 whatever the destination.
        assert_eq!(run(&mut e, &["SMOVE", "nokey", "str", "a"]), Reply::Int(0));
        for (cmd, name) in [
            (&["SADD", "s"][..], "sadd"),
            (&["SMOVE", "a", "b"], "smove"),
            (&["SINTERSTORE", "d"], "sinterstore"),
            (&["SINTERCARD", "1"], "sintercard"),
            (&["SSCAN", "s"], "sscan"),
        ] {
            assert_eq!(
                run(&mut e, cmd),
                Reply::Error(CmdError::Arity(name.into())),
                "{cmd:?}"
            );
        }
    }

    #[test]
    fn notifications() {
        let mut e = engine();
        assert_eq!(
            events(&exec(&mut e, &["SADD", "s", "a", "b", "c"], 1)),
            vec!["sadd"]
        );
        assert_eq!(
            events(&exec(&mut e, &["SADD", "s", "a"], 1)),
            Vec::<&str>::new()
        );
        assert_eq!(
            events(&exec(&mut e, &["SREM", "s", "zz"], 1)),
            Vec::<&str>::new()
        );
        assert_eq!(events(&exec(&mut e, &["SREM", "s", "a"], 1)), vec!["srem"]);
        assert_eq!(events(&exec(&mut e, &["SPOP", "s"], 1)), vec!["spop"]);
        assert_eq!(
            events(&exec(&mut e, &["SPOP", "s"], 1)),
            vec!["spop", "del"]
        );
        assert_eq!(events(&exec(&mut e, &["SPOP", "s"], 1)), Vec::<&str>::new());
        run(&mut e, &["SADD", "s", "a", "b", "c"]);
        assert_eq!(events(&exec(&mut e, &["SPOP", "s", "1"], 1)), vec!["spop"]);
        assert_eq!(
            events(&exec(&mut e, &["SPOP", "s", "0"], 1)),
            Vec::<&str>::new()
        );
        assert_eq!(
            events(&exec(&mut e, &["SPOP", "s", "5"], 1)),
            vec!["spop", "del"]
        );
        run(&mut e, &["SADD", "s", "a", "b"]);
        assert_eq!(
            events(&exec(&mut e, &["SMOVE", "s", "t", "a"], 1)),
            vec!["srem", "sadd"]
        );
        run(&mut e, &["SADD", "t", "b"]);
        assert_eq!(
            events(&exec(&mut e, &["SMOVE", "s", "t", "b"], 1)),
            vec!["srem", "del"]
        );
        assert_eq!(
            events(&exec(&mut e, &["SINTERSTORE", "d", "t"], 1)),
            vec!["sinterstore"]
        );
        assert_eq!(
            events(&exec(&mut e, &["SUNIONSTORE", "d", "t"], 1)),
            vec!["sunionstore"]
        );
        assert_eq!(
            events(&exec(&mut e, &["SDIFFSTORE", "d", "t"], 1)),
            vec!["sdiffstore"]
        );
        assert_eq!(
            events(&exec(&mut e, &["SDIFFSTORE", "d", "t", "t"], 1)),
            vec!["del"]
        );
        assert_eq!(
            events(&exec(&mut e, &["SDIFFSTORE", "d", "t", "t"], 1)),
            Vec::<&str>::new()
        );
        let out = exec(&mut e, &["SINTERSTORE", "x", "t"], 1);
        assert!(out
            .effects
            .iter()
            .any(|x| matches!(x, Effect::Modified { .. })));
    }

    #[test]
    fn spop_single() {
        let mut e = engine();
        assert_eq!(run(&mut e, &["SPOP", "nokey"]), Reply::Nil);
        run(&mut e, &["SADD", "s", "a", "b", "c"]);
        let mut popped = Vec::new();
        for seed in 0..3 {
            let Reply::Bulk(m) = exec(&mut e, &["SPOP", "s"], seed).reply else {
                panic!()
            };
            popped.push(String::from_utf8(m.to_vec()).unwrap());
        }
        popped.sort();
        assert_eq!(popped, strs(&["a", "b", "c"]));
        assert_eq!(run(&mut e, &["EXISTS", "s"]), Reply::Int(0));
    }

    #[test]
    fn spop_count() {
        let mut e = engine();
        assert_eq!(run(&mut e, &["SPOP", "nokey", "3"]), set(&[]));
        assert_eq!(run(&mut e, &["SPOP", "nokey", "0"]), set(&[]));
        run(&mut e, &["SADD", "s", "5", "3", "1"]);
        assert_eq!(run(&mut e, &["SPOP", "s", "0"]), set(&[]));
        // count >= size pops everything, intsets in ascending order.
        assert_eq!(run(&mut e, &["SPOP", "s", "10"]), set(&["1", "3", "5"]));
        assert_eq!(run(&mut e, &["EXISTS", "s"]), Reply::Int(0));
        sadd_many(&mut e, "s", (0..50).map(|i| format!("m{i}")));
        let first = run(&mut e, &["SPOP", "s", "20"]);
        let got = sorted(&first);
        assert_eq!(got.len(), 20);
        assert_eq!(
            got.iter().collect::<std::collections::HashSet<_>>().len(),
            20
        );
        assert_eq!(run(&mut e, &["SCARD", "s"]), Reply::Int(30));
        for m in &got {
            assert_eq!(run(&mut e, &["SISMEMBER", "s", m]), Reply::Int(0));
        }
        // Large sets too.
        sadd_many(&mut e, "big", (0..1000).map(|i| i.to_string()));
        assert_eq!(encoding(&e, "big"), "hashtable");
        assert_eq!(sorted(&run(&mut e, &["SPOP", "big", "999"])).len(), 999);
        assert_eq!(run(&mut e, &["SCARD", "big"]), Reply::Int(1));
    }

    #[test]
    fn spop_is_deterministic_for_a_seed() {
        let mut a = engine();
        let mut b2 = engine();
        for e in [&mut a, &mut b2] {
            sadd_many(e, "s", (0..300).map(|i| format!("m{i}")));
        }
        for seed in 0..10 {
            let ra = exec(&mut a, &["SPOP", "s", "7"], seed).reply;
            let rb = exec(&mut b2, &["SPOP", "s", "7"], seed).reply;
            assert_eq!(ra, rb);
            assert_eq!(
                exec(&mut a, &["SPOP", "s"], seed).reply,
                exec(&mut b2, &["SPOP", "s"], seed).reply
            );
        }
        assert_eq!(
            run(&mut a, &["SMEMBERS", "s"]),
            run(&mut b2, &["SMEMBERS", "s"])
        );
    }

    #[test]
    fn spop_errors() {
        let mut e = engine();
        run(&mut e, &["SADD", "s", "a"]);
        let positive = err("ERR value is out of range, must be positive");
        assert_eq!(run(&mut e, &["SPOP", "s", "x"]), positive);
        assert_eq!(run(&mut e, &["SPOP", "s", "-1"]), positive);
        assert_eq!(run(&mut e, &["SPOP", "nokey", "-1"]), positive);
        assert_eq!(
            run(&mut e, &["SPOP", "s", "1", "2"]),
            Reply::Error(CmdError::Syntax)
        );
        assert_eq!(
            run(&mut e, &["SPOP", "s", "x", "2"]),
            Reply::Error(CmdError::Syntax)
        );
    }

    #[test]
    fn srandmember() {
        let mut e = engine();
        assert_eq!(run(&mut e, &["SRANDMEMBER", "nokey"]), Reply::Nil);
        assert_eq!(run(&mut e, &["SRANDMEMBER", "nokey", "3"]), arr(&[]));
        assert_eq!(run(&mut e, &["SRANDMEMBER", "nokey", "-3"]), arr(&[]));
        run(&mut e, &["SADD", "s", "3", "1", "2"]);
        assert_eq!(run(&mut e, &["SRANDMEMBER", "s", "0"]), arr(&[]));
        assert_eq!(
            run(&mut e, &["SRANDMEMBER", "s", "3"]),
            arr(&["1", "2", "3"])
        );
        assert_eq!(
            run(&mut e, &["SRANDMEMBER", "s", "100"]),
            arr(&["1", "2", "3"])
        );
        for seed in 0..10 {
            let r = exec(&mut e, &["SRANDMEMBER", "s"], seed).reply;
            assert!([b("1"), b("2"), b("3")].contains(&r));
            let two = sorted(&exec(&mut e, &["SRANDMEMBER", "s", "2"], seed).reply);
            assert_eq!(two.len(), 2);
            assert_ne!(two[0], two[1]);
        }
        let many = sorted(&run(&mut e, &["SRANDMEMBER", "s", "-20"]));
        assert_eq!(many.len(), 20);
        assert!(many.iter().all(|m| ["1", "2", "3"].contains(&m.as_str())));
        assert_eq!(run(&mut e, &["SCARD", "s"]), Reply::Int(3), "read-only");
        sadd_many(&mut e, "big", (0..500).map(|i| format!("m{i}")));
        let picked = sorted(&run(&mut e, &["SRANDMEMBER", "big", "200"]));
        assert_eq!(
            picked
                .iter()
                .collect::<std::collections::HashSet<_>>()
                .len(),
            200
        );
        assert_eq!(
            sorted(&run(&mut e, &["SRANDMEMBER", "big", "-600"])).len(),
            600
        );
    }

    #[test]
    fn srandmember_errors() {
        let mut e = engine();
        run(&mut e, &["SADD", "s", "a"]);
        assert_eq!(
            run(&mut e, &["SRANDMEMBER", "s", "x"]),
            Reply::Error(CmdError::NotInteger)
        );
        assert_eq!(
            run(&mut e, &["SRANDMEMBER", "s", "1", "2"]),
            Reply::Error(CmdError::Syntax)
        );
        assert_eq!(
            run(&mut e, &["SRANDMEMBER", "s", "-9223372036854775808"]),
            err("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")
        );
    }

    #[test]
    fn smove() {
        let mut e = engine();
        run(&mut e, &["SADD", "s", "1", "2"]);
        assert_eq!(run(&mut e, &["SMOVE", "s", "s", "1"]), Reply::Int(1));
        assert_eq!(run(&mut e, &["SMOVE", "s", "s", "9"]), Reply::Int(0));
        assert_eq!(run(&mut e, &["SMOVE", "s", "t", "9"]), Reply::Int(0));
        assert_eq!(run(&mut e, &["EXISTS", "t"]), Reply::Int(0));
        assert_eq!(run(&mut e, &["SMOVE", "s", "t", "1"]), Reply::Int(1));
        assert_eq!(run(&mut e, &["SMEMBERS", "t"]), set(&["1"]));
        assert_eq!(encoding(&e, "t"), "intset");
        run(&mut e, &["SADD", "t", "2"]);
        assert_eq!(run(&mut e, &["SMOVE", "s", "t", "2"]), Reply::Int(1));
        assert_eq!(run(&mut e, &["EXISTS", "s"]), Reply::Int(0));
        assert_eq!(run(&mut e, &["SMEMBERS", "t"]), set(&["1", "2"]));
        run(&mut e, &["SADD", "u", "hello"]);
        assert_eq!(run(&mut e, &["SMOVE", "u", "v", "hello"]), Reply::Int(1));
        assert_eq!(encoding(&e, "v"), "listpack");
    }

    #[test]
    fn sinter_sunion_sdiff() {
        let mut e = engine();
        run(&mut e, &["SADD", "a", "1", "2", "3", "4"]);
        run(&mut e, &["SADD", "b", "3", "4", "5"]);
        run(&mut e, &["SADD", "c", "x", "3", "y"]);
        assert_eq!(run(&mut e, &["SINTER", "a", "b"]), set(&["3", "4"]));
        assert_eq!(run(&mut e, &["SINTER", "a", "b", "c"]), set(&["3"]));
        assert_eq!(run(&mut e, &["SINTER", "a"]), set(&["1", "2", "3", "4"]));
        assert_eq!(run(&mut e, &["SINTER", "a", "nokey"]), set(&[]));
        assert_eq!(
            run(&mut e, &["SUNION", "a", "b"]),
            set(&["1", "2", "3", "4", "5"])
        );
        assert_eq!(
            sorted(&run(&mut e, &["SUNION", "c", "nokey", "b"])),
            strs(&["3", "4", "5", "x", "y"])
        );
        assert_eq!(run(&mut e, &["SUNION", "nokey"]), set(&[]));
        assert_eq!(run(&mut e, &["SDIFF", "a", "b"]), set(&["1", "2"]));
        assert_eq!(
            run(&mut e, &["SDIFF", "a", "nokey", "b", "c"]),
            set(&["1", "2"])
        );
        assert_eq!(run(&mut e, &["SDIFF", "a", "a"]), set(&[]));
        assert_eq!(run(&mut e, &["SDIFF", "nokey", "a"]), set(&[]));
        assert_eq!(
            sorted(&run(&mut e, &["SDIFF", "c", "a"])),
            strs(&["x", "y"])
        );
    }

    #[test]
    fn store_variants() {
        let mut e = engine();
        run(&mut e, &["SADD", "a", "1", "2", "3"]);
        run(&mut e, &["SADD", "b", "2", "3", "z"]);
        run(&mut e, &["SET", "dst", "string"]);
        run(&mut e, &["EXPIRE", "dst", "100"]);
        assert_eq!(
            run(&mut e, &["SINTERSTORE", "dst", "a", "b"]),
            Reply::Int(2)
        );
        assert_eq!(run(&mut e, &["TYPE", "dst"]), Reply::Status("set".into()));
        assert_eq!(run(&mut e, &["TTL", "dst"]), Reply::Int(-1), "TTL cleared");
        assert_eq!(run(&mut e, &["SMEMBERS", "dst"]), set(&["2", "3"]));
        assert_eq!(encoding(&e, "dst"), "intset");
        assert_eq!(
            run(&mut e, &["SUNIONSTORE", "dst", "a", "b"]),
            Reply::Int(4)
        );
        assert_eq!(
            sorted(&run(&mut e, &["SMEMBERS", "dst"])),
            strs(&["1", "2", "3", "z"])
        );
        assert_eq!(encoding(&e, "dst"), "listpack");
        assert_eq!(run(&mut e, &["SDIFFSTORE", "dst", "a", "b"]), Reply::Int(1));
        assert_eq!(run(&mut e, &["SMEMBERS", "dst"]), set(&["1"]));
        // The destination may be a source.
        assert_eq!(run(&mut e, &["SUNIONSTORE", "a", "a", "b"]), Reply::Int(4));
        // Empty results delete the destination.
        assert_eq!(
            run(&mut e, &["SINTERSTORE", "dst", "a", "nokey"]),
            Reply::Int(0)
        );
        assert_eq!(run(&mut e, &["EXISTS", "dst"]), Reply::Int(0));
        run(&mut e, &["SET", "dst", "x"]);
        assert_eq!(run(&mut e, &["SDIFFSTORE", "dst", "a", "a"]), Reply::Int(0));
        assert_eq!(run(&mut e, &["EXISTS", "dst"]), Reply::Int(0));
        run(&mut e, &["SET", "dst", "x"]);
        assert_eq!(run(&mut e, &["SUNIONSTORE", "dst", "nokey"]), Reply::Int(0));
        assert_eq!(run(&mut e, &["EXISTS", "dst"]), Reply::Int(0));
    }

    #[test]
    fn sintercard() {
        let mut e = engine();
        run(&mut e, &["SADD", "a", "1", "2", "3", "4"]);
        run(&mut e, &["SADD", "b", "2", "3", "4", "5"]);
        assert_eq!(run(&mut e, &["SINTERCARD", "2", "a", "b"]), Reply::Int(3));
        assert_eq!(run(&mut e, &["SINTERCARD", "1", "a"]), Reply::Int(4));
        assert_eq!(
            run(&mut e, &["SINTERCARD", "2", "a", "b", "LIMIT", "2"]),
            Reply::Int(2)
        );
        assert_eq!(
            run(&mut e, &["SINTERCARD", "2", "a", "b", "limit", "0"]),
            Reply::Int(3)
        );
        assert_eq!(
            run(&mut e, &["SINTERCARD", "2", "a", "b", "LIMIT", "10"]),
            Reply::Int(3)
        );
        assert_eq!(
            run(
                &mut e,
                &["SINTERCARD", "2", "a", "b", "LIMIT", "1", "LIMIT", "5"]
            ),
            Reply::Int(3)
        );
        assert_eq!(
            run(&mut e, &["SINTERCARD", "2", "a", "nokey"]),
            Reply::Int(0)
        );
        let numkeys = err("ERR numkeys should be greater than 0");
        assert_eq!(run(&mut e, &["SINTERCARD", "0", "a"]), numkeys);
        assert_eq!(run(&mut e, &["SINTERCARD", "-1", "a"]), numkeys);
        assert_eq!(run(&mut e, &["SINTERCARD", "x", "a"]), numkeys);
        assert_eq!(
            run(&mut e, &["SINTERCARD", "3", "a", "b"]),
            err("ERR Number of keys can't be greater than number of args")
        );
        let limit = err("ERR LIMIT can't be negative");
        assert_eq!(run(&mut e, &["SINTERCARD", "1", "a", "LIMIT", "-1"]), limit);
        assert_eq!(run(&mut e, &["SINTERCARD", "1", "a", "LIMIT", "x"]), limit);
        assert_eq!(
            run(&mut e, &["SINTERCARD", "1", "a", "LIMIT"]),
            Reply::Error(CmdError::Syntax)
        );
        assert_eq!(
            run(&mut e, &["SINTERCARD", "1", "a", "foo", "1"]),
            Reply::Error(CmdError::Syntax)
        );
    }

    #[test]
    fn sintercard_key_positions() {
        let spec = cmd::lookup(b"sintercard").unwrap();
        assert_ne!(spec.flags & MOVABLEKEYS, 0);
        assert_eq!(
            spec.key_positions(&argv(&["SINTERCARD", "2", "a", "b", "LIMIT", "1"])),
            vec![2, 3]
        );
        assert_eq!(
            spec.key_positions(&argv(&["SINTERCARD", "1", "a"])),
            vec![2]
        );
        assert!(spec
            .key_positions(&argv(&["SINTERCARD", "3", "a"]))
            .is_empty());
        assert!(spec
            .key_positions(&argv(&["SINTERCARD", "x", "a"]))
            .is_empty());
        let smove = cmd::lookup(b"smove").unwrap();
        assert_eq!(
            smove.key_positions(&argv(&["SMOVE", "a", "b", "m"])),
            vec![1, 2]
        );
        let store = cmd::lookup(b"sunionstore").unwrap();
        assert_eq!(
            store.key_positions(&argv(&["SUNIONSTORE", "d", "a", "b"])),
            vec![1, 2, 3]
        );
        assert_eq!(SPECS.len(), 17);
    }

    #[test]
    fn encodings_follow_thresholds() {
        let mut e = engine();
        sadd_many(&mut e, "ints", (0..512).map(|i| i.to_string()));
        assert_eq!(encoding(&e, "ints"), "intset");
        run(&mut e, &["SADD", "ints", "512"]);
        assert_eq!(encoding(&e, "ints"), "hashtable");
        // An intset of 128 or more members goes straight to a table.
        sadd_many(&mut e, "i128", (0..128).map(|i| i.to_string()));
        run(&mut e, &["SADD", "i128", "a"]);
        assert_eq!(encoding(&e, "i128"), "hashtable");
        sadd_many(&mut e, "i127", (0..127).map(|i| i.to_string()));
        run(&mut e, &["SADD", "i127", "a"]);
        assert_eq!(encoding(&e, "i127"), "listpack");
        run(&mut e, &["SADD", "i127", "b"]);
        assert_eq!(encoding(&e, "i127"), "hashtable");
        run(&mut e, &["SADD", "long", "a"]);
        run(&mut e, &["SADD", "long", &"x".repeat(64)]);
        assert_eq!(encoding(&e, "long"), "listpack");
        run(&mut e, &["SADD", "long", &"x".repeat(65)]);
        assert_eq!(encoding(&e, "long"), "hashtable");
        // SADD on a new key sizes for its arguments (setTypeCreate's hint).
        sadd_many(&mut e, "dups", std::iter::repeat_n("a".to_string(), 200));
        assert_eq!(encoding(&e, "dups"), "hashtable");
        assert_eq!(run(&mut e, &["SCARD", "dups"]), Reply::Int(1));
        sadd_many(&mut e, "intdups", std::iter::repeat_n("1".to_string(), 600));
        assert_eq!(encoding(&e, "intdups"), "hashtable");
        run(&mut e, &["SREM", "ints", "0"]);
        assert_eq!(encoding(&e, "ints"), "hashtable", "never converts back");
    }

    #[test]
    fn sscan() {
        let mut e = engine();
        run(&mut e, &["SADD", "s", "3", "1", "20"]);
        let all = Reply::Array(vec![b("0"), arr(&["1", "3", "20"])]);
        assert_eq!(run(&mut e, &["SSCAN", "s", "0"]), all);
        assert_eq!(run(&mut e, &["SSCAN", "s", "7", "COUNT", "1"]), all);
        assert_eq!(
            run(&mut e, &["SSCAN", "s", "0", "MATCH", "*0"]),
            Reply::Array(vec![b("0"), arr(&["20"])])
        );
        assert_eq!(
            run(&mut e, &["SSCAN", "nokey", "0"]),
            Reply::Array(vec![b("0"), arr(&[])])
        );
        assert_eq!(run(&mut e, &["SSCAN", "s", "x"]), err("ERR invalid cursor"));
        assert_eq!(
            run(&mut e, &["SSCAN", "s", "0", "COUNT", "0"]),
            Reply::Error(CmdError::Syntax)
        );
        assert_eq!(
            run(&mut e, &["SSCAN", "s", "0", "TYPE", "set"]),
            Reply::Error(CmdError::Syntax)
        );
        assert_eq!(
            run(&mut e, &["SSCAN", "s", "0", "MATCH"]),
            Reply::Error(CmdError::Syntax)
        );
        sadd_many(&mut e, "big", (0..1000).map(|i| format!("m{i}")));
        let mut cursor = "0".to_string();
        let mut seen = std::collections::HashSet::new();
        let mut calls = 0;
        loop {
            let Reply::Array(parts) = run(&mut e, &["SSCAN", "big", &cursor, "COUNT", "100"])
            else {
                panic!()
            };
            let Reply::Bulk(c) = &parts[0] else { panic!() };
            for m in sorted(&parts[1]) {
                seen.insert(m);
            }
            calls += 1;
            cursor = String::from_utf8(c.to_vec()).unwrap();
            if cursor == "0" {
                break;
            }
        }
        assert_eq!(seen.len(), 1000);
        assert_eq!(calls, 10);
    }

    #[test]
    fn expired_sources_count_as_missing() {
        let mut e = engine();
        run(&mut e, &["SADD", "a", "1", "2"]);
        run(&mut e, &["SADD", "b", "2", "3"]);
        let op = e.prepare(0, argv(&["PEXPIRE", "b", "10"]), 1_000, 1);
        e.apply(&op, true);
        let spec = cmd::lookup(b"sunion").unwrap();
        let later = e.read(spec, 0, &argv(&["SUNION", "a", "b"]), 5_000, 1);
        assert_eq!(later.reply, set(&["1", "2"]));
        let spec = cmd::lookup(b"sinter").unwrap();
        let later = e.read(spec, 0, &argv(&["SINTER", "a", "b"]), 5_000, 1);
        assert_eq!(later.reply, set(&[]));
    }
}
