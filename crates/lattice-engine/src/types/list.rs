//! `ListValue`: a listpack while small, a deque of boxed elements when large.
//!
//! The switch follows `list-max-listpack-size` as Redis 7.2's
//! `listTypeTryConvertListpack` applies it to a whole list: a negative value
//! -1..-5 caps the listpack at 4, 8, 16, 32 or 64 KiB of encoded entries, a
//! positive N at N entries (and 8 KiB, Redis's `SIZE_SAFETY_LIMIT`). The
//! check runs before elements are added, so a large LPUSH converts once
//! instead of shifting a growing listpack. A list never converts back
//! (Redis 7.0 has no way back either; an emptied list is deleted, so a new
//! one starts small again).
//!
//! Redis 7.0 stores every list as a quicklist, so `OBJECT ENCODING` says
//! `quicklist` for both representations here: the listpack is an internal
//! memory saving whose switch point nobody can observe.

use std::collections::{vec_deque, VecDeque};

use super::listpack::{self, Listpack};
use crate::config::EngineConfig;

/// Redis's `SIZE_SAFETY_LIMIT`: the byte cap that also applies to a
/// count-limited (positive) `list-max-listpack-size`.
const SIZE_SAFETY_LIMIT: usize = 8192;

/// Bytes Redis's listpack spends besides the entries (header and end byte).
const LP_HEADER_BYTES: usize = 7;

/// A list's value.
#[derive(Debug, Clone)]
pub enum ListValue {
    /// Small lists.
    Listpack(Listpack),
    /// Large lists (Redis: quicklist).
    Quicklist(VecDeque<Box<[u8]>>),
}

impl Default for ListValue {
    fn default() -> Self {
        ListValue::Listpack(Listpack::new())
    }
}

/// Iterator over a list's elements, head to tail.
pub enum Iter<'a> {
    /// Over a listpack.
    Listpack(listpack::Iter<'a>),
    /// Over a deque.
    Quicklist(vec_deque::Iter<'a, Box<[u8]>>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        match self {
            Iter::Listpack(it) => it.next(),
            Iter::Quicklist(it) => it.next().map(|b| &**b),
        }
    }
}

/// Iterator over a list's elements, tail to head.
pub enum RevIter<'a> {
    /// A listpack only iterates forward, so its (few) entries are collected.
    Listpack(std::iter::Rev<std::vec::IntoIter<&'a [u8]>>),
    /// Over a deque.
    Quicklist(std::iter::Rev<vec_deque::Iter<'a, Box<[u8]>>>),
}

impl<'a> Iterator for RevIter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        match self {
            RevIter::Listpack(it) => it.next(),
            RevIter::Quicklist(it) => it.next().map(|b| &**b),
        }
    }
}

/// Whether a listpack of `bytes` (Redis's `lpBytes`) and `count` entries is
/// over the `list-max-listpack-size` limit `fill` (`quicklistNodeExceedsLimit`).
fn exceeds_limit(fill: i64, bytes: usize, count: usize) -> bool {
    if fill < 0 {
        // -1 → 4 KiB … -5 → 64 KiB; Redis clamps smaller values to -5.
        let level = (fill.unsigned_abs() - 1).min(4);
        bytes > 4096usize << level
    } else {
        bytes > SIZE_SAFETY_LIMIT || count > usize::try_from(fill).unwrap_or(usize::MAX)
    }
}

/// Redis's listpack bytes for one string entry of `len` bytes: an encoding
/// header (1, 2 or 5 bytes) plus the data plus a back-length (1 to 5 bytes).
/// Integer-looking strings are smaller in Redis; counting them as strings
/// only makes the switch a little earlier.
fn entry_bytes(len: usize) -> usize {
    let header = if len < 64 {
        1
    } else if len < 4096 {
        2
    } else {
        5
    };
    let body = header + len;
    let backlen = match body {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        2_097_152..=268_435_455 => 4,
        _ => 5,
    };
    body + backlen
}

impl ListValue {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            ListValue::Listpack(lp) => lp.len(),
            ListValue::Quicklist(q) => q.len(),
        }
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `OBJECT ENCODING` name: always `quicklist`, as Redis 7.0 reports for
    /// every list (see the module docs).
    pub fn encoding(&self) -> &'static str {
        "quicklist"
    }

    /// True while the compact representation is in use.
    pub fn is_listpack(&self) -> bool {
        matches!(self, ListValue::Listpack(_))
    }

    /// Approximate heap bytes.
    pub fn mem_usage(&self) -> usize {
        match self {
            ListValue::Listpack(lp) => lp.heap_size(),
            ListValue::Quicklist(q) => q.iter().map(|e| 16 + super::bytes_heap(e)).sum(),
        }
    }

    /// Redis's `lpBytes` for the listpack representation, estimated from
    /// the entries' lengths.
    fn redis_lp_bytes(lp: &Listpack) -> usize {
        LP_HEADER_BYTES + lp.iter().map(|e| entry_bytes(e.len())).sum::<usize>()
    }

    /// Converts to the deque before adding `add_count` entries of
    /// `add_bytes` total length (or replacing one entry, with `add_count` 0)
    /// when the listpack would go over the configured limit.
    pub fn ensure_room(&mut self, config: &EngineConfig, add_bytes: usize, add_count: usize) {
        let ListValue::Listpack(lp) = self else {
            return;
        };
        let bytes = Self::redis_lp_bytes(lp).saturating_add(add_bytes);
        if exceeds_limit(
            config.list_max_listpack_size,
            bytes,
            lp.len().saturating_add(add_count),
        ) {
            self.convert_to_quicklist();
        }
    }

    /// Switches to the deque representation, keeping the order.
    pub fn convert_to_quicklist(&mut self) {
        if let ListValue::Listpack(lp) = self {
            let q: VecDeque<Box<[u8]>> = lp.iter().map(Box::from).collect();
            *self = ListValue::Quicklist(q);
        }
    }

    /// Elements head to tail.
    pub fn iter(&self) -> Iter<'_> {
        match self {
            ListValue::Listpack(lp) => Iter::Listpack(lp.iter()),
            ListValue::Quicklist(q) => Iter::Quicklist(q.iter()),
        }
    }

    /// Elements from position `start` to the tail (a deque jumps there
    /// directly).
    pub fn iter_from(&self, start: usize) -> Iter<'_> {
        match self {
            ListValue::Listpack(lp) => {
                let mut it = lp.iter();
                if start > 0 {
                    it.nth(start - 1);
                }
                Iter::Listpack(it)
            }
            ListValue::Quicklist(q) => Iter::Quicklist(q.range(start.min(q.len())..)),
        }
    }

    /// Elements tail to head.
    pub fn iter_rev(&self) -> RevIter<'_> {
        match self {
            ListValue::Listpack(lp) => {
                let items: Vec<&[u8]> = lp.iter().collect();
                RevIter::Listpack(items.into_iter().rev())
            }
            ListValue::Quicklist(q) => RevIter::Quicklist(q.iter().rev()),
        }
    }

    /// The element at `idx` (0 is the head).
    pub fn get(&self, idx: usize) -> Option<&[u8]> {
        match self {
            ListValue::Listpack(lp) => lp.get(idx),
            ListValue::Quicklist(q) => q.get(idx).map(|b| &**b),
        }
    }

    /// Pushes `items` one by one at the head (`front`) or the tail, as
    /// LPUSH/RPUSH do (so LPUSH a b c leaves c at the head).
    pub fn push_many<'x, I>(&mut self, config: &EngineConfig, items: I, front: bool)
    where
        I: IntoIterator<Item = &'x [u8]> + Clone,
    {
        let (bytes, count) = items
            .clone()
            .into_iter()
            .fold((0usize, 0usize), |(b, c), i| {
                (b.saturating_add(entry_bytes(i.len())), c + 1)
            });
        self.ensure_room(config, bytes, count);
        for item in items {
            self.push_raw(item, front);
        }
    }

    /// Pushes one element, converting first if needed.
    pub fn push(&mut self, config: &EngineConfig, item: &[u8], front: bool) {
        self.ensure_room(config, entry_bytes(item.len()), 1);
        self.push_raw(item, front);
    }

    fn push_raw(&mut self, item: &[u8], front: bool) {
        match (self, front) {
            (ListValue::Listpack(lp), true) => lp.push_front(item),
            (ListValue::Listpack(lp), false) => lp.push_back(item),
            (ListValue::Quicklist(q), true) => q.push_front(item.into()),
            (ListValue::Quicklist(q), false) => q.push_back(item.into()),
        }
    }

    /// Pops from the head (`front`) or the tail.
    pub fn pop(&mut self, front: bool) -> Option<Vec<u8>> {
        match (self, front) {
            (ListValue::Listpack(lp), true) => lp.pop_front(),
            (ListValue::Listpack(lp), false) => lp.pop_back(),
            (ListValue::Quicklist(q), true) => q.pop_front().map(Vec::from),
            (ListValue::Quicklist(q), false) => q.pop_back().map(Vec::from),
        }
    }

    /// Pops up to `n` elements from one end, in pop order.
    pub fn pop_many(&mut self, n: usize, front: bool) -> Vec<Vec<u8>> {
        let n = n.min(self.len());
        let out: Vec<Vec<u8>> = if front {
            self.iter().take(n).map(<[u8]>::to_vec).collect()
        } else {
            self.iter_rev().take(n).map(<[u8]>::to_vec).collect()
        };
        let start = if front { 0 } else { self.len() - n };
        self.remove_range(start, n);
        out
    }

    /// Inserts `item` before position `idx` (`idx == len` appends).
    pub fn insert(&mut self, config: &EngineConfig, idx: usize, item: &[u8]) {
        self.ensure_room(config, entry_bytes(item.len()), 1);
        match self {
            ListValue::Listpack(lp) => lp.insert(idx, item),
            ListValue::Quicklist(q) => q.insert(idx.min(q.len()), item.into()),
        }
    }

    /// Replaces the element at `idx`; false if out of range.
    pub fn replace(&mut self, config: &EngineConfig, idx: usize, item: &[u8]) -> bool {
        if idx >= self.len() {
            return false;
        }
        self.ensure_room(config, entry_bytes(item.len()), 0);
        match self {
            ListValue::Listpack(lp) => lp.replace(idx, item),
            ListValue::Quicklist(q) => {
                if let Some(slot) = q.get_mut(idx) {
                    *slot = item.into();
                }
            }
        }
        true
    }

    /// Removes `n` elements starting at `start` (clamped to the list).
    pub fn remove_range(&mut self, start: usize, n: usize) {
        match self {
            ListValue::Listpack(lp) => lp.remove_range(start, n),
            ListValue::Quicklist(q) => {
                let start = start.min(q.len());
                let end = start.saturating_add(n).min(q.len());
                q.drain(start..end);
            }
        }
    }

    /// Position of the first element equal to `item`, from the head.
    pub fn position(&self, item: &[u8]) -> Option<usize> {
        self.iter().position(|e| e == item)
    }

    /// Removes elements equal to `item` as LREM: `count > 0` the first
    /// `count` from the head, `count < 0` the first `|count|` from the tail,
    /// 0 all of them. Returns how many were removed.
    pub fn remove_matching(&mut self, item: &[u8], count: i64) -> usize {
        let limit = if count == 0 {
            usize::MAX
        } else {
            usize::try_from(count.unsigned_abs()).unwrap_or(usize::MAX)
        };
        let len = self.len();
        // Positions to remove, ascending.
        let mut doomed: Vec<usize> = if count >= 0 {
            self.iter()
                .enumerate()
                .filter(|(_, e)| *e == item)
                .map(|(i, _)| i)
                .take(limit)
                .collect()
        } else {
            self.iter_rev()
                .enumerate()
                .filter(|(_, e)| *e == item)
                .map(|(i, _)| len - 1 - i)
                .take(limit)
                .collect()
        };
        if doomed.is_empty() {
            return 0;
        }
        doomed.sort_unstable();
        let removed = doomed.len();
        let mut next = doomed.iter().peekable();
        let mut idx = 0usize;
        let mut keep = |_: &[u8]| {
            let drop = next.next_if_eq(&&idx).is_some();
            idx += 1;
            !drop
        };
        match self {
            ListValue::Listpack(lp) => {
                let mut fresh = Listpack::new();
                for e in lp.iter() {
                    if keep(e) {
                        fresh.push_back(e);
                    }
                }
                *lp = fresh;
            }
            ListValue::Quicklist(q) => q.retain(|e| keep(e)),
        }
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(l: &ListValue) -> Vec<Vec<u8>> {
        l.iter().map(<[u8]>::to_vec).collect()
    }

    fn v(parts: &[&str]) -> Vec<Vec<u8>> {
        parts.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    #[test]
    fn both_representations_behave_alike() {
        let cfg = EngineConfig::default();
        for convert in [false, true] {
            let mut l = ListValue::default();
            if convert {
                l.convert_to_quicklist();
            }
            l.push_many(&cfg, [&b"a"[..], b"b", b"c"], false);
            l.push(&cfg, b"z", true);
            assert_eq!(items(&l), v(&["z", "a", "b", "c"]));
            assert_eq!(l.get(1), Some(&b"a"[..]));
            assert_eq!(l.get(4), None);
            assert_eq!(
                l.iter_from(2).map(<[u8]>::to_vec).collect::<Vec<_>>(),
                v(&["b", "c"])
            );
            assert_eq!(l.iter_from(9).count(), 0);
            l.insert(&cfg, 2, b"x");
            assert_eq!(items(&l), v(&["z", "a", "x", "b", "c"]));
            assert!(l.replace(&cfg, 0, b"y"));
            assert!(!l.replace(&cfg, 5, b"y"));
            assert_eq!(
                l.iter_rev().map(<[u8]>::to_vec).collect::<Vec<_>>(),
                v(&["c", "b", "x", "a", "y"])
            );
            assert_eq!(l.pop(true), Some(b"y".to_vec()));
            assert_eq!(l.pop(false), Some(b"c".to_vec()));
            assert_eq!(l.pop_many(2, false), v(&["b", "x"]));
            assert_eq!(l.pop_many(5, true), v(&["a"]));
            assert!(l.is_empty());
            assert_eq!(l.encoding(), "quicklist");
            assert_eq!(l.is_listpack(), !convert);
        }
    }

    #[test]
    fn remove_matching_counts_from_either_end() {
        let cfg = EngineConfig::default();
        for convert in [false, true] {
            let build = || {
                let mut l = ListValue::default();
                if convert {
                    l.convert_to_quicklist();
                }
                l.push_many(&cfg, [&b"a"[..], b"b", b"a", b"c", b"a"], false);
                l
            };
            let mut l = build();
            assert_eq!(l.remove_matching(b"a", 2), 2);
            assert_eq!(items(&l), v(&["b", "c", "a"]));
            let mut l = build();
            assert_eq!(l.remove_matching(b"a", -2), 2);
            assert_eq!(items(&l), v(&["a", "b", "c"]));
            let mut l = build();
            assert_eq!(l.remove_matching(b"a", 0), 3);
            assert_eq!(items(&l), v(&["b", "c"]));
            assert_eq!(l.remove_matching(b"q", 0), 0);
            assert_eq!(l.position(b"c"), Some(1));
        }
    }

    #[test]
    fn converts_past_the_size_limit_and_stays_converted() {
        let cfg = EngineConfig::default();
        let mut l = ListValue::default();
        let item = [b'x'; 100];
        // 100-byte entries cost 103 bytes in Redis's listpack: 79 fit in 8 KiB.
        for _ in 0..79 {
            l.push(&cfg, &item, false);
        }
        assert!(l.is_listpack());
        l.push(&cfg, &item, false);
        assert!(!l.is_listpack());
        l.pop_many(80, true);
        l.push(&cfg, b"a", false);
        assert!(!l.is_listpack());
    }

    #[test]
    fn positive_limit_counts_entries() {
        let cfg = EngineConfig {
            list_max_listpack_size: 3,
            ..EngineConfig::default()
        };
        let mut l = ListValue::default();
        l.push_many(&cfg, [&b"a"[..], b"b", b"c"], false);
        assert!(l.is_listpack());
        l.insert(&cfg, 0, b"d");
        assert!(!l.is_listpack());
        assert_eq!(items(&l), v(&["d", "a", "b", "c"]));
        // One big LPUSH converts before pushing, keeping LPUSH's order.
        let mut l = ListValue::default();
        l.push_many(&cfg, [&b"1"[..], b"2", b"3", b"4"], true);
        assert!(!l.is_listpack());
        assert_eq!(items(&l), v(&["4", "3", "2", "1"]));
        // A big replacement converts too.
        let mut l = ListValue::default();
        l.push(&EngineConfig::default(), b"a", false);
        assert!(l.replace(&EngineConfig::default(), 0, &[b'y'; 9000]));
        assert!(!l.is_listpack());
        assert_eq!(l.get(0).map(<[u8]>::len), Some(9000));
    }

    #[test]
    fn limit_classes() {
        assert!(!exceeds_limit(-2, 8192, 10_000));
        assert!(exceeds_limit(-2, 8193, 1));
        assert!(!exceeds_limit(-1, 4096, 1));
        assert!(exceeds_limit(-1, 4097, 1));
        assert!(!exceeds_limit(-5, 65_536, 1));
        assert!(!exceeds_limit(-9, 65_536, 1));
        assert!(exceeds_limit(-9, 65_537, 1));
        assert!(exceeds_limit(5, 8193, 1));
        assert!(exceeds_limit(5, 10, 6));
        assert!(!exceeds_limit(5, 10, 5));
        assert_eq!(entry_bytes(1), 3);
        assert_eq!(entry_bytes(100), 103);
        assert_eq!(entry_bytes(200), 204);
    }
}
