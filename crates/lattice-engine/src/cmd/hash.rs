//! Hash commands (`t_hash.c`): HSET/HSETNX/HMSET, HGET/HMGET, HDEL, HLEN,
//! HSTRLEN, HINCRBY/HINCRBYFLOAT, HEXISTS, HKEYS/HVALS/HGETALL, HRANDFIELD
//! and HSCAN. The value type and its encodings live in `types/hash.rs`.
//!
//! Also home of the SCAN-family cursor parser shared with SSCAN, which reads
//! cursors as Redis's `strtoul` does.

use bytes::Bytes;
use rand::Rng;

use super::flags::*;
use super::keys::scan_options;
use super::{CommandSpec, Group};
use crate::effect::EventClass;
use crate::exec::Exec;
use crate::glob::glob_match;
use crate::number::{arg_f64, arg_i64, format_incr_float, parse_f64, parse_i64};
use crate::types::hash::HashValue;
use crate::{CmdError, Reply};

type R = Result<Reply, CmdError>;

fn arg(args: &[Bytes], i: usize) -> &[u8] {
    args.get(i).map_or(&[][..], |b| &b[..])
}

/// Parses a SCAN-family cursor as Redis's `parseScanCursorOrReply`
/// (`strtoul`): an optional sign (`-1` wraps to 2^64-1), decimal digits, the
/// empty string reads as 0; a leading blank, trailing bytes or overflow is
/// `ERR invalid cursor`. Bytes after a NUL are ignored, as C sees them.
pub(crate) fn parse_scan_cursor(raw: &[u8]) -> Result<u64, CmdError> {
    let invalid = || CmdError::err("invalid cursor");
    let raw = raw.split(|&b| b == 0).next().unwrap_or_default();
    if raw.is_empty() {
        return Ok(0);
    }
    let (neg, digits) = match raw.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, raw),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(invalid());
    }
    let mut v: u64 = 0;
    for &d in digits {
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(d - b'0')))
            .ok_or_else(invalid)?;
    }
    Ok(if neg { v.wrapping_neg() } else { v })
}

/// Parses a count for HRANDFIELD/SRANDMEMBER as Redis's
/// `getRangeLongFromObjectOrReply(-LONG_MAX, LONG_MAX)`.
pub(crate) fn arg_random_count(raw: &[u8]) -> Result<i64, CmdError> {
    let n = arg_i64(raw)?;
    if n == i64::MIN {
        return Err(CmdError::err(
            "value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ));
    }
    Ok(n)
}

fn hset_generic(ex: &mut Exec<'_>, args: &[Bytes], name: &str) -> R {
    if args.len() % 2 == 1 {
        return Err(CmdError::Arity(name.to_string()));
    }
    let key = arg(args, 1);
    let cfg = ex.config;
    let h = ex.hash_or_create(key)?;
    let mut created = 0;
    for pair in args.get(2..).unwrap_or_default().chunks_exact(2) {
        if let [f, v] = pair {
            if h.set(f, v, cfg) {
                created += 1;
            }
        }
    }
    ex.modified(key);
    ex.notify(EventClass::Hash, "hset", key);
    Ok(if name == "hset" {
        Reply::Int(created)
    } else {
        Reply::Ok
    })
}

fn hset(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    hset_generic(ex, args, "hset")
}

fn hmset(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    hset_generic(ex, args, "hmset")
}

fn hsetnx(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let (key, field, value) = (arg(args, 1), arg(args, 2), arg(args, 3));
    let cfg = ex.config;
    let h = ex.hash_or_create(key)?;
    if h.contains(field) {
        return Ok(Reply::Int(0));
    }
    h.set(field, value, cfg);
    ex.modified(key);
    ex.notify(EventClass::Hash, "hset", key);
    Ok(Reply::Int(1))
}

fn hget(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let h = ex.read_hash(arg(args, 1))?;
    Ok(Reply::opt_bulk(h.and_then(|h| h.get(arg(args, 2)))))
}

fn hmget(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let h = ex.read_hash(arg(args, 1))?;
    let fields = args.get(2..).unwrap_or_default();
    Ok(Reply::Array(
        fields
            .iter()
            .map(|f| Reply::opt_bulk(h.and_then(|h| h.get(f))))
            .collect(),
    ))
}

fn hdel(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let key = arg(args, 1);
    let Some(h) = ex.write_hash(key)? else {
        return Ok(Reply::Int(0));
    };
    let mut deleted = 0;
    for f in args.get(2..).unwrap_or_default() {
        if h.remove(f) {
            deleted += 1;
            if h.is_empty() {
                break;
            }
        }
    }
    if deleted > 0 {
        ex.modified(key);
        ex.notify(EventClass::Hash, "hdel", key);
        ex.delete_if_empty(key);
    }
    Ok(Reply::Int(deleted))
}

fn hlen(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let n = ex.read_hash(arg(args, 1))?.map_or(0, HashValue::len);
    Ok(Reply::Int(n as i64))
}

fn hstrlen(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let h = ex.read_hash(arg(args, 1))?;
    let n = h.and_then(|h| h.get(arg(args, 2))).map_or(0, <[u8]>::len);
    Ok(Reply::Int(n as i64))
}

fn hexists(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let h = ex.read_hash(arg(args, 1))?;
    Ok(Reply::Int(i64::from(
        h.is_some_and(|h| h.contains(arg(args, 2))),
    )))
}

/// Stores `value` in `field`, creating the hash if needed, and notifies.
fn store_field(
    ex: &mut Exec<'_>,
    key: &[u8],
    field: &[u8],
    value: &[u8],
    event: &'static str,
) -> Result<(), CmdError> {
    let cfg = ex.config;
    ex.hash_or_create(key)?.set(field, value, cfg);
    ex.modified(key);
    ex.notify(EventClass::Hash, event, key);
    Ok(())
}

fn hincrby(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let (key, field) = (arg(args, 1), arg(args, 2));
    let incr = arg_i64(arg(args, 3))?;
    // Validate before creating anything, so an error leaves no empty hash.
    let cur = match ex.write_hash(key)?.and_then(|h| h.get(field)) {
        None => 0,
        Some(v) => parse_i64(v).ok_or_else(|| CmdError::err("hash value is not an integer"))?,
    };
    let new = cur.checked_add(incr).ok_or(CmdError::Overflow)?;
    store_field(
        ex,
        key,
        field,
        itoa::Buffer::new().format(new).as_bytes(),
        "hincrby",
    )?;
    Ok(Reply::Int(new))
}

fn hincrbyfloat(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let (key, field) = (arg(args, 1), arg(args, 2));
    let incr = arg_f64(arg(args, 3))?;
    if incr.is_infinite() {
        return Err(CmdError::err("value is NaN or Infinity"));
    }
    let cur = match ex.write_hash(key)?.and_then(|h| h.get(field)) {
        None => 0.0,
        Some(v) => parse_f64(v).ok_or_else(|| CmdError::err("hash value is not a float"))?,
    };
    let new = cur + incr;
    if !new.is_finite() {
        return Err(CmdError::err("increment would produce NaN or Infinity"));
    }
    let text = format_incr_float(new);
    store_field(ex, key, field, text.as_bytes(), "hincrbyfloat")?;
    Ok(Reply::bulk_str(&text))
}

fn hkeys(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let h = ex.read_hash(arg(args, 1))?;
    Ok(Reply::Array(h.map_or_else(Vec::new, |h| {
        h.iter().map(|(f, _)| Reply::bulk(f)).collect()
    })))
}

fn hvals(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let h = ex.read_hash(arg(args, 1))?;
    Ok(Reply::Array(h.map_or_else(Vec::new, |h| {
        h.iter().map(|(_, v)| Reply::bulk(v)).collect()
    })))
}

fn hgetall(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let h = ex.read_hash(arg(args, 1))?;
    Ok(Reply::Map(h.map_or_else(Vec::new, |h| {
        h.iter()
            .map(|(f, v)| (Reply::bulk(f), Reply::bulk(v)))
            .collect()
    })))
}

fn hrandfield(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    if args.len() >= 3 {
        let count = arg_random_count(arg(args, 2))?;
        let withvalues = match args.get(3) {
            None => false,
            Some(opt) if args.len() == 4 && opt.eq_ignore_ascii_case(b"withvalues") => true,
            Some(_) => return Err(CmdError::Syntax),
        };
        // Redis bounds the count so that count*2 reply entries cannot overflow.
        if withvalues && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
            return Err(CmdError::err("value is out of range"));
        }
        return hrandfield_count(ex, arg(args, 1), count, withvalues);
    }
    let mut rng = ex.rng.clone();
    let Some(h) = ex.read_hash(arg(args, 1))? else {
        return Ok(Reply::Nil);
    };
    let n = h.len();
    if n == 0 {
        return Ok(Reply::Nil);
    }
    let i = rng.gen_range(0..n);
    Ok(Reply::opt_bulk(h.indexed().get(i).map(|(f, _)| f)))
}

fn hrandfield_count(ex: &mut Exec<'_>, key: &[u8], count: i64, withvalues: bool) -> R {
    // The RNG is copied out so the hash can stay borrowed from `ex` (a
    // read: nothing else draws from it afterwards).
    let mut rng = ex.rng.clone();
    let Some(h) = ex.read_hash(key)? else {
        return Ok(Reply::Array(Vec::new()));
    };
    let size = h.len();
    if count == 0 || size == 0 {
        return Ok(Reply::Array(Vec::new()));
    }
    let idx = h.indexed();
    let unique = count > 0;
    let want = count.unsigned_abs();
    let positions: Vec<usize> = if !unique || want == 1 {
        // With repetitions: each pick samples the whole hash.
        (0..want).map(|_| rng.gen_range(0..size)).collect()
    } else if want >= size as u64 {
        (0..size).collect()
    } else {
        rand::seq::index::sample(&mut rng, size, want as usize).into_vec()
    };
    let picked = positions.into_iter().filter_map(|i| idx.get(i));
    Ok(if withvalues {
        Reply::Pairs(
            picked
                .map(|(f, v)| (Reply::bulk(f), Reply::bulk(v)))
                .collect(),
        )
    } else {
        Reply::Array(picked.map(|(f, _)| Reply::bulk(f)).collect())
    })
}

fn hscan(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    let cursor = parse_scan_cursor(arg(args, 2))?;
    let Some(h) = ex.read_hash(arg(args, 1))? else {
        return Ok(Reply::Array(vec![
            Reply::bulk_str("0"),
            Reply::Array(Vec::new()),
        ]));
    };
    let (pattern, count, _) = scan_options(args, 3, false)?;
    let mut items = Vec::new();
    let next = h.scan(cursor, count, |f, v| {
        if pattern.as_ref().is_none_or(|p| glob_match(p, f)) {
            items.push(Reply::bulk(f));
            items.push(Reply::bulk(v));
        }
    });
    Ok(Reply::Array(vec![
        Reply::bulk_str(&next.to_string()),
        Reply::Array(items),
    ]))
}

const W: u32 = WRITE | DENYOOM;

/// Hash command specs.
pub(crate) const SPECS: &[CommandSpec] = &[
    CommandSpec::new("hset", -4, W | FAST, (1, 1, 1), Group::Hash, Some(hset))
        .with_summary("Creates or modifies the value of a field in a hash."),
    CommandSpec::new("hsetnx", 4, W | FAST, (1, 1, 1), Group::Hash, Some(hsetnx))
        .with_summary("Sets the value of a field in a hash only when the field doesn't exist."),
    CommandSpec::new(
        "hget",
        3,
        READONLY | FAST,
        (1, 1, 1),
        Group::Hash,
        Some(hget),
    )
    .with_summary("Returns the value of a field in a hash."),
    CommandSpec::new("hmset", -4, W | FAST, (1, 1, 1), Group::Hash, Some(hmset))
        .with_summary("Sets the values of multiple fields."),
    CommandSpec::new(
        "hmget",
        -3,
        READONLY | FAST,
        (1, 1, 1),
        Group::Hash,
        Some(hmget),
    )
    .with_summary("Returns the values of all fields in a hash."),
    CommandSpec::new("hdel", -3, WRITE | FAST, (1, 1, 1), Group::Hash, Some(hdel))
        .with_summary("Deletes one or more fields and their values from a hash."),
    CommandSpec::new(
        "hlen",
        2,
        READONLY | FAST,
        (1, 1, 1),
        Group::Hash,
        Some(hlen),
    )
    .with_summary("Returns the number of fields in a hash."),
    CommandSpec::new(
        "hstrlen",
        3,
        READONLY | FAST,
        (1, 1, 1),
        Group::Hash,
        Some(hstrlen),
    )
    .with_summary("Returns the length of the value of a field."),
    CommandSpec::new(
        "hincrby",
        4,
        W | FAST,
        (1, 1, 1),
        Group::Hash,
        Some(hincrby),
    )
    .with_summary("Increments the integer value of a field in a hash by a number."),
    CommandSpec::new(
        "hincrbyfloat",
        4,
        W | FAST,
        (1, 1, 1),
        Group::Hash,
        Some(hincrbyfloat),
    )
    .with_summary("Increments the floating point value of a field by a number."),
    CommandSpec::new(
        "hexists",
        3,
        READONLY | FAST,
        (1, 1, 1),
        Group::Hash,
        Some(hexists),
    )
    .with_summary("Determines whether a field exists in a hash."),
    CommandSpec::new("hkeys", 2, READONLY, (1, 1, 1), Group::Hash, Some(hkeys))
        .with_summary("Returns all fields in a hash."),
    CommandSpec::new("hvals", 2, READONLY, (1, 1, 1), Group::Hash, Some(hvals))
        .with_summary("Returns all values in a hash."),
    CommandSpec::new(
        "hgetall",
        2,
        READONLY,
        (1, 1, 1),
        Group::Hash,
        Some(hgetall),
    )
    .with_summary("Returns all fields and values in a hash."),
    CommandSpec::new(
        "hrandfield",
        -2,
        READONLY,
        (1, 1, 1),
        Group::Hash,
        Some(hrandfield),
    )
    .with_summary("Returns one or more random fields from a hash."),
    CommandSpec::new("hscan", -3, READONLY, (1, 1, 1), Group::Hash, Some(hscan))
        .with_summary("Iterates over fields and values of a hash."),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd;
    use crate::test_replies::{argv, arr, b, err, events};
    use crate::{Effect, Engine, EngineConfig, Outcome};

    /// Runs a command as the server would: arity via `resolve`, writes
    /// through prepare/apply, reads through `read`.
    fn exec(e: &mut Engine, parts: &[&str], seed: u64) -> Outcome {
        let args = argv(parts);
        e.call(0, args, 1_000, seed, true)
    }

    fn run(e: &mut Engine, parts: &[&str]) -> Reply {
        exec(e, parts, 7).reply
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

    fn wrongtype() -> Reply {
        Reply::Error(CmdError::WrongType)
    }

    #[test]
    fn hset_hget_hmset_hmget() {
        let mut e = engine();
        assert_eq!(
            run(&mut e, &["HSET", "h", "a", "1", "b", "2"]),
            Reply::Int(2)
        );
        assert_eq!(
            run(&mut e, &["hset", "h", "a", "3", "c", "4"]),
            Reply::Int(1)
        );
        assert_eq!(run(&mut e, &["HGET", "h", "a"]), b("3"));
        assert_eq!(run(&mut e, &["HGET", "h", "zz"]), Reply::Nil);
        assert_eq!(run(&mut e, &["HGET", "nokey", "a"]), Reply::Nil);
        assert_eq!(run(&mut e, &["HMSET", "h", "d", "5"]), Reply::Ok);
        assert_eq!(
            run(&mut e, &["HMGET", "h", "a", "zz", "d"]),
            Reply::Array(vec![b("3"), Reply::Nil, b("5")])
        );
        assert_eq!(
            run(&mut e, &["HMGET", "nokey", "a", "b"]),
            Reply::Array(vec![Reply::Nil, Reply::Nil])
        );
        assert_eq!(encoding(&e, "h"), "listpack");
    }

    #[test]
    fn hset_arity_errors_name_the_command() {
        let mut e = engine();
        assert_eq!(
            run(&mut e, &["HSET", "h", "a"]),
            Reply::Error(CmdError::Arity("hset".into()))
        );
        assert_eq!(
            run(&mut e, &["HSET", "h", "a", "1", "b"]),
            Reply::Error(CmdError::Arity("hset".into()))
        );
        assert_eq!(
            run(&mut e, &["HMSET", "h", "a", "1", "b"]),
            Reply::Error(CmdError::Arity("hmset".into()))
        );
        assert_eq!(
            run(&mut e, &["EXISTS", "h"]),
            Reply::Int(0),
            "nothing created"
        );
        assert_eq!(
            run(&mut e, &["HGET", "h"]),
            Reply::Error(CmdError::Arity("hget".into()))
        );
    }

    #[test]
    fn wrong_type_everywhere() {
        let mut e = engine();
        run(&mut e, &["SET", "s", "v"]);
        for cmd in [
            &["HSET", "s", "a", "1"][..],
            &["HSETNX", "s", "a", "1"],
            &["HMSET", "s", "a", "1"],
            &["HGET", "s", "a"],
            &["HMGET", "s", "a"],
            &["HDEL", "s", "a"],
            &["HLEN", "s"],
            &["HSTRLEN", "s", "a"],
            &["HINCRBY", "s", "a", "1"],
            &["HINCRBYFLOAT", "s", "a", "1"],
            &["HEXISTS", "s", "a"],
            &["HKEYS", "s"],
            &["HVALS", "s"],
            &["HGETALL", "s"],
            &["HRANDFIELD", "s"],
            &["HRANDFIELD", "s", "2"],
            &["HRANDFIELD", "s", "0", "WITHVALUES"],
            &["HSCAN", "s", "0"],
        ] {
            assert_eq!(run(&mut e, cmd), wrongtype(), "{cmd:?}");
        }
    }

    #[test]
    fn notifications() {
        let mut e = engine();
        let out = exec(&mut e, &["HSET", "h", "a", "1"], 1);
        assert_eq!(events(&out), vec!["hset"]);
        assert!(out
            .effects
            .iter()
            .any(|x| matches!(x, Effect::Modified { .. })));
        assert_eq!(
            events(&exec(&mut e, &["HSET", "h", "a", "1"], 1)),
            vec!["hset"]
        );
        assert_eq!(
            events(&exec(&mut e, &["HMSET", "h", "b", "1"], 1)),
            vec!["hset"]
        );
        assert_eq!(
            events(&exec(&mut e, &["HSETNX", "h", "a", "1"], 1)),
            Vec::<&str>::new()
        );
        assert_eq!(
            events(&exec(&mut e, &["HSETNX", "h", "c", "1"], 1)),
            vec!["hset"]
        );
        assert_eq!(
            events(&exec(&mut e, &["HINCRBY", "h", "a", "1"], 1)),
            vec!["hincrby"]
        );
        assert_eq!(
            events(&exec(&mut e, &["HINCRBYFLOAT", "h", "a", "1.5"], 1)),
            vec!["hincrbyfloat"]
        );
        assert_eq!(
            events(&exec(&mut e, &["HDEL", "h", "zz"], 1)),
            Vec::<&str>::new()
        );
        assert_eq!(
            events(&exec(&mut e, &["HDEL", "h", "a", "b"], 1)),
            vec!["hdel"]
        );
        let out = exec(&mut e, &["HDEL", "h", "c"], 1);
        assert_eq!(events(&out), vec!["hdel", "del"]);
        assert_eq!(run(&mut e, &["EXISTS", "h"]), Reply::Int(0));
        let out = exec(&mut e, &["HGET", "h", "a"], 1);
        assert!(out.effects.is_empty());
    }

    #[test]
    fn hsetnx() {
        let mut e = engine();
        assert_eq!(run(&mut e, &["HSETNX", "h", "a", "1"]), Reply::Int(1));
        assert_eq!(run(&mut e, &["HSETNX", "h", "a", "2"]), Reply::Int(0));
        assert_eq!(run(&mut e, &["HGET", "h", "a"]), b("1"));
        let long = "x".repeat(65);
        assert_eq!(run(&mut e, &["HSETNX", "h", "a", &long]), Reply::Int(0));
        assert_eq!(
            encoding(&e, "h"),
            "listpack",
            "no conversion when nothing is set"
        );
        assert_eq!(run(&mut e, &["HSETNX", "h", "b", &long]), Reply::Int(1));
        assert_eq!(encoding(&e, "h"), "hashtable");
    }

    #[test]
    fn hdel_hlen_hexists_hstrlen() {
        let mut e = engine();
        run(&mut e, &["HSET", "h", "a", "hello", "b", "", "c", "123"]);
        assert_eq!(run(&mut e, &["HLEN", "h"]), Reply::Int(3));
        assert_eq!(run(&mut e, &["HLEN", "nokey"]), Reply::Int(0));
        assert_eq!(run(&mut e, &["HSTRLEN", "h", "a"]), Reply::Int(5));
        assert_eq!(run(&mut e, &["HSTRLEN", "h", "b"]), Reply::Int(0));
        assert_eq!(run(&mut e, &["HSTRLEN", "h", "c"]), Reply::Int(3));
        assert_eq!(run(&mut e, &["HSTRLEN", "h", "zz"]), Reply::Int(0));
        assert_eq!(run(&mut e, &["HSTRLEN", "nokey", "a"]), Reply::Int(0));
        assert_eq!(run(&mut e, &["HEXISTS", "h", "b"]), Reply::Int(1));
        assert_eq!(run(&mut e, &["HEXISTS", "h", "zz"]), Reply::Int(0));
        assert_eq!(run(&mut e, &["HEXISTS", "nokey", "a"]), Reply::Int(0));
        assert_eq!(run(&mut e, &["HDEL", "h", "a", "a", "zz"]), Reply::Int(1));
        assert_eq!(run(&mut e, &["HDEL", "nokey", "a"]), Reply::Int(0));
        assert_eq!(run(&mut e, &["HDEL", "h", "b", "c", "b"]), Reply::Int(2));
        assert_eq!(run(&mut e, &["EXISTS", "h"]), Reply::Int(0));
    }

    #[test]
    fn hincrby() {
        let mut e = engine();
        assert_eq!(run(&mut e, &["HINCRBY", "h", "n", "5"]), Reply::Int(5));
        assert_eq!(run(&mut e, &["HINCRBY", "h", "n", "-7"]), Reply::Int(-2));
        assert_eq!(run(&mut e, &["HGET", "h", "n"]), b("-2"));
        assert_eq!(
            run(&mut e, &["HINCRBY", "h", "n", "x"]),
            Reply::Error(CmdError::NotInteger)
        );
        assert_eq!(
            run(&mut e, &["HINCRBY", "h", "n", "1.5"]),
            Reply::Error(CmdError::NotInteger)
        );
        run(
            &mut e,
            &[
                "HSET",
                "h",
                "s",
                "foo",
                "sp",
                " 1",
                "max",
                "9223372036854775807",
            ],
        );
        assert_eq!(
            run(&mut e, &["HINCRBY", "h", "s", "1"]),
            err("ERR hash value is not an integer")
        );
        assert_eq!(
            run(&mut e, &["HINCRBY", "h", "sp", "1"]),
            err("ERR hash value is not an integer")
        );
        assert_eq!(
            run(&mut e, &["HINCRBY", "h", "max", "1"]),
            Reply::Error(CmdError::Overflow)
        );
        assert_eq!(
            run(&mut e, &["HINCRBY", "h", "min", "-9223372036854775808"]),
            Reply::Int(i64::MIN)
        );
        assert_eq!(
            run(&mut e, &["HINCRBY", "h", "min", "-1"]),
            Reply::Error(CmdError::Overflow)
        );
        assert_eq!(
            run(&mut e, &["HINCRBY", "h", "min", "0"]),
            Reply::Int(i64::MIN)
        );
        // An error on a new key leaves nothing behind.
        assert_eq!(
            run(&mut e, &["HINCRBY", "new", "n", "x"]),
            Reply::Error(CmdError::NotInteger)
        );
        assert_eq!(run(&mut e, &["EXISTS", "new"]), Reply::Int(0));
        // A long field converts the encoding, as hashTypeSet does.
        let long = "f".repeat(65);
        assert_eq!(run(&mut e, &["HINCRBY", "big", &long, "1"]), Reply::Int(1));
        assert_eq!(encoding(&e, "big"), "hashtable");
    }

    #[test]
    fn hincrbyfloat() {
        let mut e = engine();
        assert_eq!(run(&mut e, &["HINCRBYFLOAT", "h", "f", "10.5"]), b("10.5"));
        assert_eq!(run(&mut e, &["HINCRBYFLOAT", "h", "f", "0.1"]), b("10.6"));
        assert_eq!(run(&mut e, &["HINCRBYFLOAT", "h", "f", "-5"]), b("5.6"));
        assert_eq!(run(&mut e, &["HGET", "h", "f"]), b("5.6"));
        run(&mut e, &["HSET", "h", "e", "1e3", "s", "foo", "i", "3"]);
        assert_eq!(run(&mut e, &["HINCRBYFLOAT", "h", "e", "1"]), b("1001"));
        assert_eq!(run(&mut e, &["HINCRBYFLOAT", "h", "i", "2.5e1"]), b("28"));
        assert_eq!(
            run(&mut e, &["HINCRBYFLOAT", "h", "s", "1"]),
            err("ERR hash value is not a float")
        );
        assert_eq!(
            run(&mut e, &["HINCRBYFLOAT", "h", "f", "x"]),
            Reply::Error(CmdError::NotFloat)
        );
        assert_eq!(
            run(&mut e, &["HINCRBYFLOAT", "h", "f", "nan"]),
            Reply::Error(CmdError::NotFloat)
        );
        assert_eq!(
            run(&mut e, &["HINCRBYFLOAT", "h", "f", "inf"]),
            err("ERR value is NaN or Infinity")
        );
        assert_eq!(
            run(&mut e, &["HINCRBYFLOAT", "h", "f", "-inf"]),
            err("ERR value is NaN or Infinity")
        );
        run(&mut e, &["HSET", "h", "big", "1.7e308"]);
        assert_eq!(
            run(&mut e, &["HINCRBYFLOAT", "h", "big", "1.7e308"]),
            err("ERR increment would produce NaN or Infinity")
        );
        assert_eq!(
            run(&mut e, &["HINCRBYFLOAT", "new", "f", "inf"]),
            err("ERR value is NaN or Infinity")
        );
        assert_eq!(run(&mut e, &["EXISTS", "new"]), Reply::Int(0));
    }

    #[test]
    fn hkeys_hvals_hgetall_in_insertion_order() {
        let mut e = engine();
        run(&mut e, &["HSET", "h", "b", "1", "a", "2", "c", "3"]);
        run(&mut e, &["HSET", "h", "b", "9"]);
        assert_eq!(run(&mut e, &["HKEYS", "h"]), arr(&["b", "a", "c"]));
        assert_eq!(run(&mut e, &["HVALS", "h"]), arr(&["9", "2", "3"]));
        assert_eq!(
            run(&mut e, &["HGETALL", "h"]),
            Reply::Map(vec![(b("b"), b("9")), (b("a"), b("2")), (b("c"), b("3"))])
        );
        assert_eq!(run(&mut e, &["HKEYS", "nokey"]), arr(&[]));
        assert_eq!(run(&mut e, &["HVALS", "nokey"]), arr(&[]));
        assert_eq!(run(&mut e, &["HGETALL", "nokey"]), Reply::Map(Vec::new()));
    }

    #[test]
    fn large_hash_converts_and_keeps_working() {
        let mut e = engine();
        let mut cmd = vec!["HSET".to_string(), "h".to_string()];
        for i in 0..200 {
            cmd.push(format!("f{i}"));
            cmd.push(format!("v{i}"));
        }
        let parts: Vec<&str> = cmd.iter().map(String::as_str).collect();
        assert_eq!(run(&mut e, &parts), Reply::Int(200));
        assert_eq!(encoding(&e, "h"), "hashtable");
        assert_eq!(run(&mut e, &["HGET", "h", "f150"]), b("v150"));
        assert_eq!(run(&mut e, &["HLEN", "h"]), Reply::Int(200));
        assert_eq!(run(&mut e, &["HDEL", "h", "f0", "f1"]), Reply::Int(2));
        assert_eq!(run(&mut e, &["HLEN", "h"]), Reply::Int(198));
        let Reply::Map(all) = run(&mut e, &["HGETALL", "h"]) else {
            panic!()
        };
        assert_eq!(all.len(), 198);
        // 128 fields fit a listpack; the 129th converts.
        let mut e = engine();
        for i in 0..128 {
            run(&mut e, &["HSET", "h", &format!("f{i}"), "v"]);
        }
        assert_eq!(encoding(&e, "h"), "listpack");
        run(&mut e, &["HSET", "h", "another", "v"]);
        assert_eq!(encoding(&e, "h"), "hashtable");
        run(&mut e, &["HSET", "v", "a", &"y".repeat(64)]);
        assert_eq!(encoding(&e, "v"), "listpack");
        run(&mut e, &["HSET", "v", "a", &"y".repeat(65)]);
        assert_eq!(encoding(&e, "v"), "hashtable");
    }

    #[test]
    fn hrandfield_without_count() {
        let mut e = engine();
        assert_eq!(run(&mut e, &["HRANDFIELD", "nokey"]), Reply::Nil);
        run(&mut e, &["HSET", "h", "a", "1", "b", "2", "c", "3"]);
        for seed in 0..20 {
            let r = exec(&mut e, &["HRANDFIELD", "h"], seed).reply;
            assert!([b("a"), b("b"), b("c")].contains(&r), "{r:?}");
        }
        // Deterministic for a given seed (replicas pick the same field).
        assert_eq!(
            exec(&mut e, &["HRANDFIELD", "h"], 42).reply,
            exec(&mut e, &["HRANDFIELD", "h"], 42).reply
        );
    }

    #[test]
    fn hrandfield_with_count() {
        let mut e = engine();
        run(&mut e, &["HSET", "h", "a", "1", "b", "2", "c", "3"]);
        assert_eq!(run(&mut e, &["HRANDFIELD", "h", "0"]), arr(&[]));
        assert_eq!(
            run(&mut e, &["HRANDFIELD", "h", "0", "WITHVALUES"]),
            arr(&[])
        );
        assert_eq!(run(&mut e, &["HRANDFIELD", "nokey", "3"]), arr(&[]));
        assert_eq!(
            run(&mut e, &["HRANDFIELD", "nokey", "-3", "withvalues"]),
            arr(&[])
        );
        // count >= size: the whole hash, in order.
        assert_eq!(
            run(&mut e, &["HRANDFIELD", "h", "3"]),
            arr(&["a", "b", "c"])
        );
        assert_eq!(
            run(&mut e, &["HRANDFIELD", "h", "10"]),
            arr(&["a", "b", "c"])
        );
        assert_eq!(
            run(&mut e, &["HRANDFIELD", "h", "5", "withvalues"]),
            Reply::Pairs(vec![(b("a"), b("1")), (b("b"), b("2")), (b("c"), b("3"))])
        );
        // Unique picks.
        for seed in 0..20 {
            let Reply::Array(v) = exec(&mut e, &["HRANDFIELD", "h", "2"], seed).reply else {
                panic!()
            };
            assert_eq!(v.len(), 2);
            assert_ne!(v[0], v[1]);
        }
        // Negative: repetitions allowed, exact length.
        let Reply::Array(v) = run(&mut e, &["HRANDFIELD", "h", "-10"]) else {
            panic!()
        };
        assert_eq!(v.len(), 10);
        let Reply::Pairs(p) = run(&mut e, &["HRANDFIELD", "h", "-5", "WITHVALUES"]) else {
            panic!()
        };
        assert_eq!(p.len(), 5);
        for (f, v) in p {
            let Reply::Bulk(f) = f else { panic!() };
            assert_eq!(
                run(&mut e, &["HGET", "h", std::str::from_utf8(&f).unwrap()]),
                v
            );
        }
        // Large hash, unique picks.
        for i in 0..300 {
            run(&mut e, &["HSET", "big", &format!("f{i}"), "v"]);
        }
        let Reply::Array(v) = run(&mut e, &["HRANDFIELD", "big", "100"]) else {
            panic!()
        };
        let uniq: std::collections::HashSet<_> = v.iter().map(|r| format!("{r:?}")).collect();
        assert_eq!(uniq.len(), 100);
        let Reply::Array(v) = run(&mut e, &["HRANDFIELD", "big", "-400"]) else {
            panic!()
        };
        assert_eq!(v.len(), 400);
    }

    #[test]
    fn hrandfield_errors() {
        let mut e = engine();
        run(&mut e, &["HSET", "h", "a", "1"]);
        assert_eq!(
            run(&mut e, &["HRANDFIELD", "h", "x"]),
            Reply::Error(CmdError::NotInteger)
        );
        assert_eq!(
            run(&mut e, &["HRANDFIELD", "h", "1", "withvalue"]),
            Reply::Error(CmdError::Syntax)
        );
        assert_eq!(
            run(&mut e, &["HRANDFIELD", "h", "1", "withvalues", "x"]),
            Reply::Error(CmdError::Syntax)
        );
        assert_eq!(
            run(&mut e, &["HRANDFIELD", "h", "x", "y"]),
            Reply::Error(CmdError::NotInteger)
        );
        assert_eq!(
            run(&mut e, &["HRANDFIELD", "h", "-9223372036854775808"]),
            err("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")
        );
        assert_eq!(
            run(
                &mut e,
                &["HRANDFIELD", "h", "4611686018427387904", "withvalues"]
            ),
            err("ERR value is out of range")
        );
        assert_eq!(
            run(
                &mut e,
                &["HRANDFIELD", "h", "-4611686018427387904", "withvalues"]
            ),
            err("ERR value is out of range")
        );
        assert_eq!(
            run(
                &mut e,
                &["HRANDFIELD", "h", "4611686018427387903", "withvalues"]
            ),
            Reply::Pairs(vec![(b("a"), b("1"))])
        );
        // The count is checked before the key's type.
        run(&mut e, &["SET", "s", "v"]);
        assert_eq!(
            run(&mut e, &["HRANDFIELD", "s", "x"]),
            Reply::Error(CmdError::NotInteger)
        );
    }

    #[test]
    fn hscan_listpack_returns_everything() {
        let mut e = engine();
        run(&mut e, &["HSET", "h", "a", "1", "b", "2", "ab", "3"]);
        let all = Reply::Array(vec![b("0"), arr(&["a", "1", "b", "2", "ab", "3"])]);
        assert_eq!(run(&mut e, &["HSCAN", "h", "0"]), all);
        assert_eq!(run(&mut e, &["HSCAN", "h", "5", "COUNT", "1"]), all);
        assert_eq!(
            run(&mut e, &["HSCAN", "h", "0", "MATCH", "a*"]),
            Reply::Array(vec![b("0"), arr(&["a", "1", "ab", "3"])])
        );
        assert_eq!(
            run(&mut e, &["HSCAN", "nokey", "0"]),
            Reply::Array(vec![b("0"), arr(&[])])
        );
        assert_eq!(run(&mut e, &["HSCAN", "h", "-1"]), all);
        assert_eq!(run(&mut e, &["HSCAN", "h", ""]), all);
        assert_eq!(run(&mut e, &["HSCAN", "h", "+3"]), all);
    }

    #[test]
    fn hscan_errors() {
        let mut e = engine();
        run(&mut e, &["HSET", "h", "a", "1"]);
        let invalid = err("ERR invalid cursor");
        assert_eq!(run(&mut e, &["HSCAN", "h", "x"]), invalid);
        assert_eq!(run(&mut e, &["HSCAN", "h", " 1"]), invalid);
        assert_eq!(
            run(&mut e, &["HSCAN", "h", "18446744073709551616"]),
            invalid
        );
        assert_eq!(run(&mut e, &["HSCAN", "nokey", "x"]), invalid);
        assert_eq!(
            run(&mut e, &["HSCAN", "h", "0", "COUNT", "0"]),
            Reply::Error(CmdError::Syntax)
        );
        assert_eq!(
            run(&mut e, &["HSCAN", "h", "0", "COUNT", "x"]),
            Reply::Error(CmdError::NotInteger)
        );
        assert_eq!(
            run(&mut e, &["HSCAN", "h", "0", "MATCH"]),
            Reply::Error(CmdError::Syntax)
        );
        assert_eq!(
            run(&mut e, &["HSCAN", "h", "0", "TYPE", "string"]),
            Reply::Error(CmdError::Syntax)
        );
        // Options of a missing key are not checked (Redis replies first).
        assert_eq!(
            run(&mut e, &["HSCAN", "nokey", "0", "COUNT", "0"]),
            Reply::Array(vec![b("0"), arr(&[])])
        );
    }

    #[test]
    fn hscan_table_pages_through_everything() {
        let mut e = engine();
        for i in 0..300 {
            run(&mut e, &["HSET", "h", &format!("f{i}"), &format!("v{i}")]);
        }
        let mut cursor = "0".to_string();
        let mut seen = std::collections::HashMap::new();
        let mut calls = 0;
        loop {
            let Reply::Array(parts) = run(&mut e, &["HSCAN", "h", &cursor, "COUNT", "50"]) else {
                panic!()
            };
            let Reply::Bulk(c) = &parts[0] else { panic!() };
            let Reply::Array(items) = &parts[1] else {
                panic!()
            };
            assert!(items.len() <= 100);
            for pair in items.chunks(2) {
                seen.insert(format!("{:?}", pair[0]), format!("{:?}", pair[1]));
            }
            calls += 1;
            cursor = String::from_utf8(c.to_vec()).unwrap();
            if cursor == "0" {
                break;
            }
        }
        assert_eq!(seen.len(), 300);
        assert!(calls >= 6);
        let Reply::Array(parts) = run(
            &mut e,
            &["HSCAN", "h", "0", "COUNT", "1000", "MATCH", "f1?"],
        ) else {
            panic!()
        };
        let Reply::Array(items) = &parts[1] else {
            panic!()
        };
        assert_eq!(items.len(), 20);
    }

    #[test]
    fn cursor_parsing() {
        assert_eq!(parse_scan_cursor(b"0"), Ok(0));
        assert_eq!(parse_scan_cursor(b""), Ok(0));
        assert_eq!(parse_scan_cursor(b"-1"), Ok(u64::MAX));
        assert_eq!(parse_scan_cursor(b"+12"), Ok(12));
        assert_eq!(parse_scan_cursor(b"-0"), Ok(0));
        assert_eq!(parse_scan_cursor(b"18446744073709551615"), Ok(u64::MAX));
        assert_eq!(parse_scan_cursor(b"7\0junk"), Ok(7));
        for bad in [
            &b"x"[..],
            b"+",
            b"-",
            b" 1",
            b"1 ",
            b"18446744073709551616",
            b"0x1",
            b"1.0",
        ] {
            assert!(parse_scan_cursor(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn specs_match_redis() {
        let hset = cmd::lookup(b"hset").unwrap();
        assert_eq!(
            (hset.arity, hset.first_key, hset.last_key, hset.step),
            (-4, 1, 1, 1)
        );
        assert_eq!(hset.acl_categories(), vec!["@write", "@hash", "@fast"]);
        assert_eq!(
            cmd::lookup(b"hgetall").unwrap().acl_categories(),
            vec!["@read", "@hash", "@slow"]
        );
        assert_eq!(cmd::lookup(b"hdel").unwrap().flags, WRITE | FAST);
        assert_eq!(SPECS.len(), 16);
    }
}
