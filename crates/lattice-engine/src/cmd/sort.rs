//! SORT and SORT_RO (`sort.c`): sort the elements of a list, set or sorted
//! set numerically or lexicographically (ALPHA), by their own value or by
//! external keys (`BY pattern`, `BY nosort`), with LIMIT, GET patterns
//! (`#`, `key*`, `hash*->field`) and, for SORT only, STORE into a list.
//!
//! Numbers are read as C's `strtod` reads them (hex, `inf`, leading blanks;
//! NaN, trailing bytes and out-of-range values are errors). Ties in numeric
//! order fall back to comparing the elements' bytes; ALPHA compares bytes
//! (Redis uses `strcoll`, which is byte order in the C/C.UTF-8 locales).
//! The sort is stable, as glibc's `qsort`; with BY and a LIMIT that selects a
//! range, Redis's partial quicksort is reproduced, so ties (ALPHA over equal
//! or missing BY values) come out in Redis's order.

use std::cmp::Ordering;

use bytes::Bytes;

use super::dump::{list_items, new_list, zset_pairs, zset_to_skiplist};
use super::flags::*;
use super::{CommandSpec, Group};
use crate::effect::EventClass;
use crate::exec::Exec;
use crate::keyspace::Entry;
use crate::number::{self, arg_i64};
use crate::value::Value;
use crate::{CmdError, Reply};

type R = Result<Reply, CmdError>;

fn arg(args: &[Bytes], i: usize) -> &[u8] {
    args.get(i).map_or(&[][..], |b| &b[..])
}

/// Parses a score as Redis's SORT does: `strtod` over the whole string (up
/// to a NUL byte), rejecting NaN and any ERANGE; the empty string is 0.
fn parse_score(raw: &[u8]) -> Option<f64> {
    let s = number::c_str(raw);
    let r = number::strtod(s);
    (r.used == s.len() && !r.erange && !r.value.is_nan()).then_some(r.value)
}

fn lookup_by_pattern(ex: &mut Exec<'_>, pattern: &[u8], subst: &[u8]) -> Option<Vec<u8>> {
    if pattern == b"#" {
        return Some(subst.to_vec());
    }
    let star = pattern.iter().position(|&c| c == b'*')?;
    let after = pattern.get(star + 1..)?;
    let arrow = after
        .windows(2)
        .position(|w| w == b"->")
        .filter(|&i| i + 2 < after.len());
    let (post, field) = match arrow {
        Some(i) => (after.get(..i)?, after.get(i + 2..)),
        None => (after, None),
    };
    let mut key = Vec::with_capacity(pattern.len() + subst.len());
    key.extend_from_slice(pattern.get(..star)?);
    key.extend_from_slice(subst);
    key.extend_from_slice(post);
    match (&ex.lookup_read(&key)?.value, field) {
        (Value::Hash(h), Some(f)) => h.get(f).map(<[u8]>::to_vec),
        (Value::Str(s), None) => Some(s.to_vec()),
        _ => None,
    }
}

/// Redis's `pqsort` (NetBSD's qsort, Bentley & McIlroy, restricted to the
/// partitions that overlap elements `lrange..=rrange`), ported exactly so
/// that ties come out in the same order.
fn pqsort<T>(v: &mut [T], cmp: &mut impl FnMut(&T, &T) -> Ordering, lrange: usize, rrange: usize) {
    pqsort_part(v, 0, v.len(), cmp, lrange, rrange);
}

fn pqsort_part<T>(
    v: &mut [T],
    mut a: usize,
    mut n: usize,
    cmp: &mut impl FnMut(&T, &T) -> Ordering,
    lrange: usize,
    rrange: usize,
) {
    // Whether elements `s..s + k` are entirely outside the wanted range.
    let outside =
        |s: usize, k: usize| (lrange < s && rrange < s) || (lrange >= s + k && rrange >= s + k);
    loop {
        if n < 7 {
            insertion_sort(v, a, n, cmp);
            return;
        }
        let mut pm = a + n / 2;
        if n > 7 {
            let mut pl = a;
            let mut pn = a + n - 1;
            if n > 40 {
                let d = n / 8;
                pl = med3(v, pl, pl + d, pl + 2 * d, cmp);
                pm = med3(v, pm - d, pm, pm + d, cmp);
                pn = med3(v, pn - 2 * d, pn - d, pn, cmp);
            }
            pm = med3(v, pl, pm, pn, cmp);
        }
        v.swap(a, pm);
        let (mut pa, mut pb) = (a + 1, a + 1);
        let (mut pc, mut pd) = (a + n - 1, a + n - 1);
        let mut swapped = false;
        loop {
            while pb <= pc {
                let r = cmp_at(v, pb, a, cmp);
                if r == Ordering::Greater {
                    break;
                }
                if r == Ordering::Equal {
                    swapped = true;
                    v.swap(pa, pb);
                    pa += 1;
                }
                pb += 1;
            }
            while pb <= pc {
                let r = cmp_at(v, pc, a, cmp);
                if r == Ordering::Less {
                    break;
                }
                if r == Ordering::Equal {
                    swapped = true;
                    v.swap(pc, pd);
                    pd -= 1;
                }
                pc -= 1;
            }
            if pb > pc {
                break;
            }
            v.swap(pb, pc);
            swapped = true;
            pb += 1;
            pc -= 1;
        }
        if !swapped {
            insertion_sort(v, a, n, cmp);
            return;
        }
        let pn = a + n;
        let r = (pa - a).min(pb - pa);
        for i in 0..r {
            v.swap(a + i, pb - r + i);
        }
        let r = (pd - pc).min(pn - pd - 1);
        for i in 0..r {
            v.swap(pb + i, pn - r + i);
        }
        let r = pb - pa;
        if r > 1 && !outside(a, r) {
            pqsort_part(v, a, r, cmp, lrange, rrange);
        }
        let r = pd - pc;
        if r > 1 {
            a = pn - r;
            n = r;
            if !outside(a, n) {
                continue;
            }
        }
        return;
    }
}

fn cmp_at<T>(v: &[T], i: usize, j: usize, cmp: &mut impl FnMut(&T, &T) -> Ordering) -> Ordering {
    match (v.get(i), v.get(j)) {
        (Some(x), Some(y)) => cmp(x, y),
        _ => Ordering::Equal,
    }
}

fn insertion_sort<T>(v: &mut [T], a: usize, n: usize, cmp: &mut impl FnMut(&T, &T) -> Ordering) {
    for pm in a + 1..a + n {
        let mut pl = pm;
        while pl > a && cmp_at(v, pl - 1, pl, cmp) == Ordering::Greater {
            v.swap(pl, pl - 1);
            pl -= 1;
        }
    }
}

fn med3<T>(
    v: &[T],
    a: usize,
    b: usize,
    c: usize,
    cmp: &mut impl FnMut(&T, &T) -> Ordering,
) -> usize {
    if cmp_at(v, a, b, cmp) == Ordering::Less {
        if cmp_at(v, b, c, cmp) == Ordering::Less {
            b
        } else if cmp_at(v, a, c, cmp) == Ordering::Less {
            c
        } else {
            a
        }
    } else if cmp_at(v, b, c, cmp) == Ordering::Greater {
        b
    } else if cmp_at(v, a, c, cmp) == Ordering::Less {
        a
    } else {
        c
    }
}

/// One element to sort and its sort key.
struct Item {
    obj: Vec<u8>,
    score: f64,
    by: Option<Vec<u8>>,
}

impl Item {
    fn new(obj: Vec<u8>) -> Item {
        Item {
            obj,
            score: 0.0,
            by: None,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    List,
    Set,
    ZSet,
}

fn sort_generic(ex: &mut Exec<'_>, args: &[Bytes], readonly: bool) -> R {
    let key = arg(args, 1);
    let (mut desc, mut alpha, mut dontsort) = (false, false, false);
    let (mut limit_start, mut limit_count) = (0i64, -1i64);
    let mut sortby: Option<&[u8]> = None;
    let mut store: Option<&[u8]> = None;
    let mut gets: Vec<&[u8]> = Vec::new();
    let mut j = 2;
    while j < args.len() {
        let left = args.len() - j - 1;
        let a = arg(args, j);
        if a.eq_ignore_ascii_case(b"asc") {
            desc = false;
        } else if a.eq_ignore_ascii_case(b"desc") {
            desc = true;
        } else if a.eq_ignore_ascii_case(b"alpha") {
            alpha = true;
        } else if a.eq_ignore_ascii_case(b"limit") && left >= 2 {
            limit_start = arg_i64(arg(args, j + 1))?;
            limit_count = arg_i64(arg(args, j + 2))?;
            j += 2;
        } else if !readonly && a.eq_ignore_ascii_case(b"store") && left >= 1 {
            store = Some(arg(args, j + 1));
            j += 1;
        } else if a.eq_ignore_ascii_case(b"by") && left >= 1 {
            let pattern = arg(args, j + 1);
            sortby = Some(pattern);
            // A constant pattern means "don't sort" (BY nosort).
            if !pattern.contains(&b'*') {
                dontsort = true;
            }
            j += 1;
        } else if a.eq_ignore_ascii_case(b"get") && left >= 1 {
            gets.push(arg(args, j + 1));
            j += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }

    // The elements, in the order Redis would load them.
    let (kind, all): (Kind, Vec<Vec<u8>>) = match ex.lookup_read(key) {
        None => (Kind::List, Vec::new()),
        Some(Entry {
            value: Value::List(l),
            ..
        }) => (Kind::List, list_items(l)),
        Some(Entry {
            value: Value::Set(s),
            ..
        }) => (Kind::Set, s.iter().map(|m| m.to_vec()).collect()),
        Some(Entry {
            value: Value::ZSet(z),
            ..
        }) => {
            // Redis 7.0 converts the sorted set to a skiplist, even for SORT_RO.
            zset_to_skiplist(z);
            (
                Kind::ZSet,
                zset_pairs(z).into_iter().map(|(m, _)| m).collect(),
            )
        }
        Some(_) => return Err(CmdError::WrongType),
    };
    // Unsorted set output would depend on hash order: STORE sorts it.
    if dontsort && kind == Kind::Set && store.is_some() {
        dontsort = false;
        alpha = true;
        sortby = None;
    }

    let vectorlen = all.len() as i64;
    let mut start = limit_start.clamp(0, vectorlen);
    let limit_count = limit_count.clamp(-1, vectorlen);
    let mut end = if limit_count < 0 {
        vectorlen - 1
    } else {
        start + limit_count - 1
    };
    if start >= vectorlen {
        start = vectorlen - 1;
        end = vectorlen - 2;
    }
    if end >= vectorlen {
        end = vectorlen - 1;
    }

    let mut items: Vec<Item>;
    if dontsort && kind != Kind::Set {
        // Lists and sorted sets keep their order: take the range directly,
        // from the tail with DESC.
        let n = if end >= start {
            (end - start + 1) as usize
        } else {
            0
        };
        let s = start.max(0) as usize;
        items = if desc {
            all.into_iter()
                .rev()
                .skip(s)
                .take(n)
                .map(Item::new)
                .collect()
        } else {
            all.into_iter().skip(s).take(n).map(Item::new).collect()
        };
        if end >= start {
            end -= start;
            start = 0;
        }
    } else {
        items = all.into_iter().map(Item::new).collect();
    }

    if !dontsort {
        let mut conversion_error = false;
        for item in &mut items {
            let byval = match sortby {
                Some(pattern) => match lookup_by_pattern(ex, pattern, &item.obj) {
                    Some(v) => v,
                    None => continue,
                },
                None => item.obj.clone(),
            };
            if alpha {
                if sortby.is_some() {
                    item.by = Some(byval);
                }
            } else {
                match parse_score(&byval) {
                    Some(v) => item.score = v,
                    None => conversion_error = true,
                }
            }
        }
        if conversion_error {
            return Err(CmdError::err(
                "One or more scores can't be converted into double",
            ));
        }
        let by_pattern = sortby.is_some();
        let mut compare = |a: &Item, b: &Item| {
            let c = if !alpha {
                a.score
                    .partial_cmp(&b.score)
                    .unwrap_or(Ordering::Equal)
                    .then_with(|| a.obj.cmp(&b.obj))
            } else if by_pattern {
                match (&a.by, &b.by) {
                    (None, None) => Ordering::Equal,
                    (None, Some(_)) => Ordering::Less,
                    (Some(_), None) => Ordering::Greater,
                    (Some(x), Some(y)) => x.cmp(y),
                }
            } else {
                a.obj.cmp(&b.obj)
            };
            if desc {
                c.reverse()
            } else {
                c
            }
        };
        // As Redis: a partial quicksort when BY and LIMIT select a range
        // (its order of ties is part of the reply), else a stable sort.
        let len = items.len() as i64;
        if by_pattern && len > 0 && (start != 0 || end != len - 1) {
            pqsort(
                &mut items,
                &mut compare,
                start.max(0) as usize,
                end.max(0) as usize,
            );
        } else {
            items.sort_by(compare);
        }
    }

    let range: &[Item] = if end >= start {
        items.get(start as usize..=end as usize).unwrap_or_default()
    } else {
        &[]
    };
    let Some(dest) = store else {
        let mut out = Vec::with_capacity(range.len() * gets.len().max(1));
        for item in range {
            if gets.is_empty() {
                out.push(Reply::bulk(&item.obj));
            }
            for g in &gets {
                out.push(match lookup_by_pattern(ex, g, &item.obj) {
                    Some(v) => Reply::Bulk(Bytes::from(v)),
                    None => Reply::Nil,
                });
            }
        }
        return Ok(Reply::Array(out));
    };

    let mut stored: Vec<Vec<u8>> = Vec::with_capacity(range.len() * gets.len().max(1));
    for item in range {
        if gets.is_empty() {
            stored.push(item.obj.clone());
        }
        for g in &gets {
            stored.push(lookup_by_pattern(ex, g, &item.obj).unwrap_or_default());
        }
    }
    let n = stored.len();
    if n > 0 {
        let list = new_list(stored, ex.config);
        ex.set_key(dest, Value::List(Box::new(list)), false);
        ex.stats.dirty += n as u64 - 1;
        ex.key_ready(dest);
        ex.notify(EventClass::List, "sortstore", dest);
    } else if ex.delete(dest) {
        ex.notify(EventClass::Generic, "del", dest);
    }
    Ok(Reply::Int(n as i64))
}

fn sort(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    sort_generic(ex, args, false)
}

fn sort_ro(ex: &mut Exec<'_>, args: &[Bytes]) -> R {
    sort_generic(ex, args, true)
}

/// SORT's keys: the sorted key and, if given, the STORE destination (the
/// last STORE wins, as in Redis's `sortGetKeys`).
fn sort_keys(args: &[Bytes]) -> Vec<usize> {
    let mut keys = vec![1];
    let mut store = None;
    let mut i = 2;
    while i < args.len() {
        let a = arg(args, i);
        let skip = if a.eq_ignore_ascii_case(b"limit") {
            2
        } else if a.eq_ignore_ascii_case(b"get") || a.eq_ignore_ascii_case(b"by") {
            1
        } else if a.eq_ignore_ascii_case(b"store") {
            // As Redis's `sortGetKeys`, the key after STORE is not skipped.
            if i + 1 < args.len() {
                store = Some(i + 1);
            }
            0
        } else {
            0
        };
        i += 1 + skip;
    }
    keys.extend(store);
    keys
}

fn sort_ro_keys(_args: &[Bytes]) -> Vec<usize> {
    vec![1]
}

/// SORT command specs.
pub(crate) const SPECS: &[CommandSpec] = &[
    CommandSpec::new(
        "sort",
        -2,
        WRITE | DENYOOM,
        (1, 1, 1),
        Group::Generic,
        Some(sort),
    )
    .with_getkeys(sort_keys),
    CommandSpec::new(
        "sort_ro",
        -2,
        READONLY,
        (1, 1, 1),
        Group::Generic,
        Some(sort_ro),
    )
    .with_getkeys(sort_ro_keys),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd;
    use crate::cmd::dump::{new_zset, zset_pairs};
    use crate::types::hash::HashValue;
    use crate::types::set::SetValue;
    use crate::{Effect, Engine, EngineConfig};

    fn run(e: &mut Engine, line: &str) -> Reply {
        let args: Vec<Bytes> = line
            .split(' ')
            .map(|p| Bytes::copy_from_slice(p.as_bytes()))
            .collect();
        e.call(0, args, 1_000, 7, false).reply
    }

    /// The reply as strings ("(nil)" for nil), or the error text.
    fn out(r: Reply) -> Vec<String> {
        match r {
            Reply::Array(v) => v
                .into_iter()
                .map(|x| match x {
                    Reply::Bulk(b) => String::from_utf8_lossy(&b).into_owned(),
                    Reply::Nil => "(nil)".into(),
                    other => panic!("{other:?}"),
                })
                .collect(),
            Reply::Error(e) => vec![e.wire_text()],
            Reply::Int(i) => vec![format!(":{i}")],
            other => panic!("{other:?}"),
        }
    }

    fn list(e: &mut Engine, key: &str, items: &[&str]) {
        let cfg = EngineConfig::default();
        let v = new_list(items.iter().map(|s| s.as_bytes().to_vec()).collect(), &cfg);
        e.db_mut(0)
            .unwrap()
            .insert(key.as_bytes(), Value::List(Box::new(v)), 0, 0);
    }

    fn hash(e: &mut Engine, key: &str, field: &str, value: &str) {
        let cfg = EngineConfig::default();
        let mut h = HashValue::default();
        h.set(field.as_bytes(), value.as_bytes(), &cfg);
        e.db_mut(0)
            .unwrap()
            .insert(key.as_bytes(), Value::Hash(Box::new(h)), 0, 0);
    }

    /// The fixture of the examples checked against redis-server 7.0.15.
    fn fixture() -> Engine {
        let mut e = Engine::new(EngineConfig::default());
        let cfg = EngineConfig::default();
        list(&mut e, "l", &["3", "1", "2", "10"]);
        for (k, v) in [
            ("w_3", "30"),
            ("w_1", "10"),
            ("w_2", "20"),
            ("w_10", "5"),
            ("o_1", "one"),
            ("o_2", "two"),
        ] {
            run(&mut e, &format!("set {k} {v}"));
        }
        hash(&mut e, "h_3", "f", "c");
        hash(&mut e, "h_1", "f", "a");
        hash(&mut e, "h_10", "f", "z");
        list(&mut e, "names", &["bob", "alice", "carol"]);
        for (k, v) in [("age_bob", "30"), ("age_alice", "25"), ("age_carol", "35")] {
            run(&mut e, &format!("set {k} {v}"));
        }
        let mut s = SetValue::default();
        for m in ["5", "3", "9"] {
            s.add(m.as_bytes(), &cfg);
        }
        e.db_mut(0)
            .unwrap()
            .insert(b"s", Value::Set(Box::new(s)), 0, 0);
        let z = new_zset(
            vec![
                (b"c".to_vec(), 3.0),
                (b"a".to_vec(), 1.0),
                (b"b".to_vec(), 2.0),
            ],
            &cfg,
        );
        e.db_mut(0)
            .unwrap()
            .insert(b"z", Value::ZSet(Box::new(z)), 0, 0);
        list(&mut e, "bad", &["1", "x", "2"]);
        e
    }

    #[test]
    fn matches_redis_examples() {
        let mut e = fixture();
        let cases: &[(&str, &[&str])] = &[
            ("sort l", &["1", "2", "3", "10"]),
            ("sort l desc", &["10", "3", "2", "1"]),
            ("sort l limit 1 2", &["2", "3"]),
            ("sort l limit 1 2 desc", &["3", "2"]),
            ("sort l limit -5 2", &["1", "2"]),
            ("sort l limit 2 -1", &["3", "10"]),
            ("sort l limit 10 5", &[]),
            ("sort l by w_*", &["10", "1", "2", "3"]),
            ("sort l by w_* desc", &["3", "2", "1", "10"]),
            (
                "sort l by w_* get # get o_*",
                &["10", "(nil)", "1", "one", "2", "two", "3", "(nil)"],
            ),
            ("sort l get h_*->f", &["a", "(nil)", "c", "z"]),
            ("sort l get h_*->", &["(nil)", "(nil)", "(nil)", "(nil)"]),
            ("sort l by h_*->f alpha", &["2", "1", "3", "10"]),
            ("sort l alpha limit 0 2", &["1", "10"]),
            ("sort names alpha", &["alice", "bob", "carol"]),
            ("sort names by age_*", &["alice", "bob", "carol"]),
            (
                "sort names by age_* get # get age_*",
                &["alice", "25", "bob", "30", "carol", "35"],
            ),
            ("sort names by nosort", &["bob", "alice", "carol"]),
            ("sort names by nosort desc", &["carol", "alice", "bob"]),
            ("sort names by nosort limit 1 1", &["alice"]),
            ("sort s", &["3", "5", "9"]),
            ("sort s desc", &["9", "5", "3"]),
            (
                "sort z",
                &["ERR One or more scores can't be converted into double"],
            ),
            ("sort z by nosort desc", &["c", "b", "a"]),
            ("sort z by nosort limit 1 5", &["b", "c"]),
            ("sort z alpha desc", &["c", "b", "a"]),
            (
                "sort bad",
                &["ERR One or more scores can't be converted into double"],
            ),
            ("sort bad alpha", &["1", "2", "x"]),
            ("sort missing", &[]),
            (
                "sort l by nosort get # get w_*",
                &["3", "30", "1", "10", "2", "20", "10", "5"],
            ),
            ("sort l get nokey", &["(nil)", "(nil)", "(nil)", "(nil)"]),
            ("sort l by nokey_*", &["1", "10", "2", "3"]),
            ("sort_ro l by w_* limit 0 1", &["10"]),
            ("sort l foo", &["ERR syntax error"]),
            ("sort l limit 1", &["ERR syntax error"]),
            (
                "sort l limit a b",
                &["ERR value is not an integer or out of range"],
            ),
            ("sort_ro l store x", &["ERR syntax error"]),
            ("sort l by", &["ERR syntax error"]),
            ("sort l get", &["ERR syntax error"]),
            (
                "sort w_1",
                &["WRONGTYPE Operation against a key holding the wrong kind of value"],
            ),
        ];
        for (line, want) in cases {
            assert_eq!(out(run(&mut e, line)), *want, "{line}");
        }
    }

    #[test]
    fn store() {
        let mut e = fixture();
        assert_eq!(run(&mut e, "sort l store dst"), Reply::Int(4));
        assert_eq!(out(run(&mut e, "lrange dst 0 -1")), ["1", "2", "3", "10"]);
        assert_eq!(run(&mut e, "sort l get o_* store dst2"), Reply::Int(4));
        match &e.db(0).unwrap().get(b"dst2").unwrap().value {
            Value::List(l) => assert_eq!(
                list_items(l),
                vec![b"one".to_vec(), b"two".to_vec(), vec![], vec![]]
            ),
            other => panic!("{other:?}"),
        }
        // Storing nothing deletes the destination.
        assert_eq!(run(&mut e, "sort missing store dst"), Reply::Int(0));
        assert!(e.db(0).unwrap().get(b"dst").is_none());
        // BY nosort on a set with STORE sorts anyway (deterministic output).
        assert_eq!(run(&mut e, "sort s by nosort store dst3"), Reply::Int(3));
        match &e.db(0).unwrap().get(b"dst3").unwrap().value {
            Value::List(l) => assert_eq!(
                list_items(l),
                vec![b"3".to_vec(), b"5".to_vec(), b"9".to_vec()]
            ),
            other => panic!("{other:?}"),
        }
        // STORE replaces a key of another type and emits sortstore.
        let args: Vec<Bytes> = ["sort", "l", "store", "w_1"]
            .iter()
            .map(|s| Bytes::from(*s))
            .collect();
        let o = e.apply(&e.prepare(0, args, 1_000, 0), false);
        assert_eq!(o.reply, Reply::Int(4));
        assert!(o.effects.iter().any(|f| matches!(
            f,
            Effect::Notify {
                event: "sortstore",
                ..
            }
        )));
        assert!(matches!(
            e.db(0).unwrap().get(b"w_1").unwrap().value,
            Value::List(_)
        ));
    }

    #[test]
    fn sorting_a_sorted_set_converts_it_to_a_skiplist() {
        let mut e = fixture();
        assert_eq!(out(run(&mut e, "sort_ro z by nosort")), ["a", "b", "c"]);
        match &e.db(0).unwrap().get(b"z").unwrap().value {
            Value::ZSet(z) => {
                assert_eq!(z.encoding(), "skiplist");
                assert_eq!(zset_pairs(z).len(), 3);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn ties_follow_redis_partial_quicksort() {
        let mut e = Engine::new(EngineConfig::default());
        let names: Vec<String> = (0..30).map(|i| format!("e{i}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        list(&mut e, "n", &refs);
        for i in 0..30 {
            run(&mut e, &format!("set w_e{i} {}", i % 3));
        }
        // Captured from redis-server 7.0.15.
        assert_eq!(
            out(run(&mut e, "sort n by w_* alpha limit 5 10 desc")),
            ["e5", "e29", "e17", "e2", "e26", "e19", "e7", "e22", "e25", "e1"]
        );
        // Without LIMIT the sort is stable (glibc's merge sort).
        let all = out(run(&mut e, "sort n by w_* alpha"));
        assert_eq!(all[..4], ["e0", "e3", "e6", "e9"]);
        assert_eq!(all[10..12], ["e1", "e4"]);
    }

    #[test]
    fn pqsort_sorts_the_requested_range() {
        let mut seed = 99u64;
        for n in [0usize, 1, 6, 7, 8, 41, 100, 500] {
            let v: Vec<u32> = (0..n)
                .map(|_| {
                    seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                    (seed >> 40) as u32 % 50
                })
                .collect();
            let mut sorted = v.clone();
            sorted.sort();
            for (l, r) in [
                (0, n.saturating_sub(1)),
                (n / 3, n / 2),
                (n / 2, n.saturating_sub(1)),
            ] {
                let mut w = v.clone();
                pqsort(&mut w, &mut |a: &u32, b: &u32| a.cmp(b), l, r);
                if n > 0 {
                    assert_eq!(w[l..=r], sorted[l..=r], "n={n} {l}..={r}");
                }
            }
        }
    }

    #[test]
    fn scores_parse_like_strtod() {
        for (s, v) in [
            ("", Some(0.0)),
            ("0x10", Some(16.0)),
            ("0X1.8P1", Some(3.0)),
            (" 5", Some(5.0)),
            ("+5", Some(5.0)),
            (".5", Some(0.5)),
            ("5.", Some(5.0)),
            ("inf", Some(f64::INFINITY)),
            ("-infinity", Some(f64::NEG_INFINITY)),
            ("-0", Some(-0.0)),
            ("1e3", Some(1000.0)),
            ("2.2250738585072014e-308", Some(f64::MIN_POSITIVE)),
            ("0e-400", Some(0.0)),
            ("12\0ab", Some(12.0)),
        ] {
            assert_eq!(parse_score(s.as_bytes()), v, "{s:?}");
        }
        for s in [
            "5 ", "  ", "1e", "nan", "0x", "1_0", "infx", "1e400", "1e-310", "1e-400", "x", ".",
        ] {
            assert_eq!(parse_score(s.as_bytes()), None, "{s:?}");
        }
    }

    #[test]
    fn getkeys_include_store() {
        let args: Vec<Bytes> = [
            "sort", "k", "limit", "0", "1", "get", "#", "store", "d1", "store", "d2",
        ]
        .iter()
        .map(|s| Bytes::from(*s))
        .collect();
        assert_eq!(sort_keys(&args), vec![1, 10]);
        let ro: Vec<Bytes> = ["sort_ro", "k", "by", "x"]
            .iter()
            .map(|s| Bytes::from(*s))
            .collect();
        assert_eq!(sort_ro_keys(&ro), vec![1]);
        let spec = cmd::lookup(b"sort").unwrap();
        assert_eq!(spec.key_positions(&args), vec![1, 10]);
        assert!(spec.flags & MOVABLEKEYS != 0);
    }
}
