//! `ZSetValue`: a sorted set. While small it is a listpack of member/score
//! pairs sorted by (score, member), the score stored as text (Redis's
//! `d2string`); once it outgrows `zset-max-listpack-entries` or a member
//! outgrows `zset-max-listpack-value` it becomes the "skiplist" form: a
//! member → score map (insertion-ordered, so random picks and ZSCAN are
//! deterministic) plus an ordered set of (score, member).
//!
//! The ordered set is a `BTreeSet`, which has no rank index: rank lookups
//! (ZRANK, ZRANGE by index with a large offset) walk it and are O(n) on the
//! large form, where Redis's skiplist is O(log n).
//!
//! Range selection (`score_select`, `lex_select`) follows `t_zset.c`'s walk
//! exactly — find the first element in range, skip `offset` elements without
//! checking them, then take elements while they stay in range — so even the
//! "unspecified" case of a lex range over members with different scores
//! gives Redis's answer on the listpack form.

use std::cmp::Ordering;
use std::collections::{btree_set, BTreeSet};
use std::ops::Bound;

use indexmap::IndexMap;

use super::listpack::{self, Listpack};
use crate::keyspace::FastHasher;
use crate::number::{format_double, parse_f64};

/// A score in the ordered index. Scores compare numerically, so `-0` equals
/// `0` as in Redis (ties fall back to the member); a score is never NaN.
#[derive(Debug, Clone, Copy)]
pub struct Score(pub f64);

impl PartialEq for Score {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Score {}

impl PartialOrd for Score {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Score {
    fn cmp(&self, other: &Self) -> Ordering {
        // NaN never enters a sorted set; `total_cmp` only keeps Ord total.
        self.0
            .partial_cmp(&other.0)
            .unwrap_or_else(|| self.0.total_cmp(&other.0))
    }
}

/// Redis's element order: by score, then by member bytes.
pub fn cmp_elements(a: (&[u8], f64), b: (&[u8], f64)) -> Ordering {
    Score(a.1).cmp(&Score(b.1)).then_with(|| a.0.cmp(b.0))
}

/// A score interval (`ZRANGEBYSCORE` min/max): `(` makes an end exclusive.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoreRange {
    /// Lower end.
    pub min: f64,
    /// Upper end.
    pub max: f64,
    /// Lower end excluded.
    pub minex: bool,
    /// Upper end excluded.
    pub maxex: bool,
}

impl ScoreRange {
    /// `v` is at or above the lower end.
    pub fn gte_min(&self, v: f64) -> bool {
        if self.minex {
            v > self.min
        } else {
            v >= self.min
        }
    }

    /// `v` is at or below the upper end.
    pub fn lte_max(&self, v: f64) -> bool {
        if self.maxex {
            v < self.max
        } else {
            v <= self.max
        }
    }

    /// Whether no score can be in the range.
    pub fn is_empty(&self) -> bool {
        self.min > self.max || (self.min == self.max && (self.minex || self.maxex))
    }
}

/// One end of a lex interval (`ZRANGEBYLEX`): `-`, `+`, `[x` or `(x`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LexBound {
    /// `-`: below every string.
    NegInf,
    /// `+`: above every string.
    PosInf,
    /// `[x`: x included.
    Incl(Vec<u8>),
    /// `(x`: x excluded.
    Excl(Vec<u8>),
}

impl LexBound {
    /// Redis's `sdscmplex(value, bound)`.
    fn cmp_value(&self, v: &[u8]) -> Ordering {
        match self {
            LexBound::NegInf => Ordering::Greater,
            LexBound::PosInf => Ordering::Less,
            LexBound::Incl(s) | LexBound::Excl(s) => v.cmp(s),
        }
    }

    /// Redis marks `-`, `+` and `(x` exclusive.
    fn exclusive(&self) -> bool {
        !matches!(self, LexBound::Incl(_))
    }

    /// Order of the bound strings themselves (`-` < any string < `+`).
    fn cmp_bound(&self, other: &LexBound) -> Ordering {
        fn rank(b: &LexBound) -> u8 {
            match b {
                LexBound::NegInf => 0,
                LexBound::Incl(_) | LexBound::Excl(_) => 1,
                LexBound::PosInf => 2,
            }
        }
        match (self, other) {
            (LexBound::Incl(a) | LexBound::Excl(a), LexBound::Incl(b) | LexBound::Excl(b)) => {
                a.cmp(b)
            }
            _ => rank(self).cmp(&rank(other)),
        }
    }
}

/// A lex interval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexRange {
    /// Lower end.
    pub min: LexBound,
    /// Upper end.
    pub max: LexBound,
}

impl LexRange {
    /// `v` is at or above the lower end.
    pub fn gte_min(&self, v: &[u8]) -> bool {
        let c = self.min.cmp_value(v);
        if self.min.exclusive() {
            c == Ordering::Greater
        } else {
            c != Ordering::Less
        }
    }

    /// `v` is at or below the upper end.
    pub fn lte_max(&self, v: &[u8]) -> bool {
        let c = self.max.cmp_value(v);
        if self.max.exclusive() {
            c == Ordering::Less
        } else {
            c != Ordering::Greater
        }
    }

    /// Whether no string can be in the range.
    pub fn is_empty(&self) -> bool {
        match self.min.cmp_bound(&self.max) {
            Ordering::Greater => true,
            Ordering::Equal => self.min.exclusive() || self.max.exclusive(),
            Ordering::Less => false,
        }
    }
}

/// The listpack thresholds (`zset-max-listpack-entries`/`-value`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most members a listpack holds.
    pub entries: usize,
    /// Longest member a listpack holds.
    pub value: usize,
}

/// A sorted set's value.
#[derive(Debug, Clone)]
pub enum ZSetValue {
    /// member, score-text, member, score-text … sorted by (score, member).
    Listpack(Listpack),
    /// Large sorted sets.
    Skiplist {
        /// member → score
        dict: IndexMap<Box<[u8]>, f64, FastHasher>,
        /// (score, member) in order
        tree: BTreeSet<(Score, Box<[u8]>)>,
    },
}

impl Default for ZSetValue {
    fn default() -> Self {
        ZSetValue::Listpack(Listpack::new())
    }
}

/// (member, score) pairs of a listpack, in order.
struct LpPairs<'a> {
    it: listpack::Iter<'a>,
}

impl<'a> Iterator for LpPairs<'a> {
    type Item = (&'a [u8], f64);
    fn next(&mut self) -> Option<Self::Item> {
        let member = self.it.next()?;
        let score = self.it.next()?;
        // Scores are written by `format_double`, which always parses back.
        Some((member, parse_f64(score).unwrap_or(0.0)))
    }
}

fn lp_pairs(lp: &Listpack) -> LpPairs<'_> {
    LpPairs { it: lp.iter() }
}

/// The smallest double above `v` (`f64::next_up`, newer than our MSRV).
fn next_up(v: f64) -> f64 {
    if v.is_nan() || v == f64::INFINITY {
        return v;
    }
    if v == 0.0 {
        return f64::from_bits(1);
    }
    let bits = v.to_bits();
    if v > 0.0 {
        f64::from_bits(bits + 1)
    } else {
        f64::from_bits(bits - 1)
    }
}

/// An ordered walk over a sorted set, both ends.
pub enum Iter<'a> {
    /// Pairs decoded from a listpack (or selected ahead of time).
    Pairs(std::vec::IntoIter<(&'a [u8], f64)>),
    /// A span of the ordered index.
    Tree(btree_set::Range<'a, (Score, Box<[u8]>)>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a [u8], f64);
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Iter::Pairs(it) => it.next(),
            Iter::Tree(it) => it.next().map(|(s, m)| (&m[..], s.0)),
        }
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        match self {
            Iter::Pairs(it) => it.next_back(),
            Iter::Tree(it) => it.next_back().map(|(s, m)| (&m[..], s.0)),
        }
    }
}

impl<'a> Iter<'a> {
    fn empty() -> Self {
        Iter::Pairs(Vec::new().into_iter())
    }

    /// Walks ascending, or descending when `rev`.
    pub fn directed(self, rev: bool) -> Directed<'a> {
        Directed { it: self, rev }
    }
}

/// An [`Iter`] walked in one direction.
pub struct Directed<'a> {
    it: Iter<'a>,
    rev: bool,
}

impl<'a> Iterator for Directed<'a> {
    type Item = (&'a [u8], f64);
    fn next(&mut self) -> Option<Self::Item> {
        if self.rev {
            self.it.next_back()
        } else {
            self.it.next()
        }
    }
}

/// Members reachable by position, for random picks: a decoded listpack, or
/// the member map (whose order is deterministic).
pub enum Indexed<'a> {
    /// Decoded listpack pairs.
    Pairs(Vec<(&'a [u8], f64)>),
    /// The large form's member map.
    Dict(&'a IndexMap<Box<[u8]>, f64, FastHasher>),
}

impl<'a> Indexed<'a> {
    /// Number of members.
    pub fn len(&self) -> usize {
        match self {
            Indexed::Pairs(v) => v.len(),
            Indexed::Dict(d) => d.len(),
        }
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The member at position `i`.
    pub fn get(&self, i: usize) -> Option<(&'a [u8], f64)> {
        match self {
            Indexed::Pairs(v) => v.get(i).copied(),
            Indexed::Dict(d) => d.get_index(i).map(|(m, s)| (&m[..], *s)),
        }
    }
}

impl ZSetValue {
    /// Number of members.
    pub fn len(&self) -> usize {
        match self {
            ZSetValue::Listpack(lp) => lp.len() / 2,
            ZSetValue::Skiplist { dict, .. } => dict.len(),
        }
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `OBJECT ENCODING` name.
    pub fn encoding(&self) -> &'static str {
        match self {
            ZSetValue::Listpack(_) => "listpack",
            ZSetValue::Skiplist { .. } => "skiplist",
        }
    }

    /// Approximate heap bytes.
    pub fn mem_usage(&self) -> usize {
        match self {
            ZSetValue::Listpack(lp) => lp.heap_size(),
            ZSetValue::Skiplist { dict, .. } => {
                dict.keys().map(|m| 80 + 2 * super::bytes_heap(m)).sum()
            }
        }
    }

    /// A set built from pairs sorted by (score, member) with distinct
    /// members, in the encoding Redis would pick for that content (as
    /// `zsetConvertToListpackIfNeeded` after ZUNIONSTORE and friends).
    pub fn from_sorted(pairs: Vec<(Vec<u8>, f64)>, limits: Limits) -> Self {
        let fits =
            pairs.len() <= limits.entries && pairs.iter().all(|(m, _)| m.len() <= limits.value);
        if fits {
            let mut lp = Listpack::new();
            for (m, s) in &pairs {
                lp.push_back(m);
                lp.push_back(lp_score_text(*s).as_bytes());
            }
            return ZSetValue::Listpack(lp);
        }
        let mut dict = IndexMap::with_capacity_and_hasher(pairs.len(), FastHasher::default());
        let mut tree = BTreeSet::new();
        for (m, s) in pairs {
            let m: Box<[u8]> = m.into_boxed_slice();
            dict.insert(m.clone(), s);
            tree.insert((Score(s), m));
        }
        ZSetValue::Skiplist { dict, tree }
    }

    /// Converts a listpack to the large form (never the other way, as Redis).
    fn convert_to_skiplist(&mut self) {
        let ZSetValue::Listpack(lp) = self else {
            return;
        };
        let mut dict = IndexMap::with_capacity_and_hasher(lp.len() / 2, FastHasher::default());
        let mut tree = BTreeSet::new();
        for (m, s) in lp_pairs(lp) {
            let m: Box<[u8]> = m.into();
            dict.insert(m.clone(), s);
            tree.insert((Score(s), m));
        }
        *self = ZSetValue::Skiplist { dict, tree };
    }

    /// The score of `member`.
    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            ZSetValue::Listpack(lp) => lp_find(lp, member).map(|(_, s)| s),
            ZSetValue::Skiplist { dict, .. } => dict.get(member).copied(),
        }
    }

    /// The 0-based ascending rank of `member`, and its score. O(n) on both
    /// forms (the large form walks the ordered index).
    pub fn rank(&self, member: &[u8]) -> Option<(usize, f64)> {
        match self {
            ZSetValue::Listpack(lp) => lp_find(lp, member),
            ZSetValue::Skiplist { dict, tree } => {
                let s = *dict.get(member)?;
                let key = (Score(s), Box::<[u8]>::from(member));
                Some((tree.range(..key).count(), s))
            }
        }
    }

    /// All members, ascending; `.rev()` or [`Iter::directed`] for descending.
    pub fn iter(&self) -> Iter<'_> {
        match self {
            ZSetValue::Listpack(lp) => Iter::Pairs(lp_pairs(lp).collect::<Vec<_>>().into_iter()),
            ZSetValue::Skiplist { tree, .. } => Iter::Tree(tree.range::<(Score, Box<[u8]>), _>(..)),
        }
    }

    /// Members by position, for random picks.
    pub fn indexed(&self) -> Indexed<'_> {
        match self {
            ZSetValue::Listpack(lp) => Indexed::Pairs(lp_pairs(lp).collect()),
            ZSetValue::Skiplist { dict, .. } => Indexed::Dict(dict),
        }
    }

    /// The members whose score is in `r`, ascending.
    pub fn score_range(&self, r: &ScoreRange) -> Iter<'_> {
        if r.is_empty() {
            return Iter::empty();
        }
        match self {
            ZSetValue::Listpack(lp) => Iter::Pairs(
                lp_pairs(lp)
                    .filter(|(_, s)| r.gte_min(*s) && r.lte_max(*s))
                    .collect::<Vec<_>>()
                    .into_iter(),
            ),
            ZSetValue::Skiplist { tree, .. } => {
                let empty = || Box::<[u8]>::from(&b""[..]);
                // An empty member sorts first among equal scores, so
                // (score, "") bounds "every member with this score".
                let lo = if r.minex {
                    if r.min == f64::INFINITY {
                        return Iter::empty();
                    }
                    (Score(next_up(r.min)), empty())
                } else {
                    (Score(r.min), empty())
                };
                let hi = if r.maxex {
                    Bound::Excluded((Score(r.max), empty()))
                } else if r.max == f64::INFINITY {
                    Bound::Unbounded
                } else {
                    Bound::Excluded((Score(next_up(r.max)), empty()))
                };
                if let Bound::Excluded(h) = &hi {
                    if *h <= lo {
                        return Iter::empty();
                    }
                }
                Iter::Tree(tree.range((Bound::Included(lo), hi)))
            }
        }
    }

    /// Redis's score-range walk: the members in `r` ascending (descending
    /// when `rev`), skipping `offset`, at most `limit` (`None`: all).
    pub fn score_select(
        &self,
        r: &ScoreRange,
        rev: bool,
        offset: usize,
        limit: Option<usize>,
    ) -> Vec<(&[u8], f64)> {
        if offset > 0 && offset >= self.len() {
            return Vec::new();
        }
        let it = self.score_range(r).directed(rev).skip(offset);
        match limit {
            Some(n) => it.take(n).collect(),
            None => it.collect(),
        }
    }

    /// Redis's lex-range walk (`genericZrangebylexCommand`): from the first
    /// member in range (last when `rev`), skip `offset` members unchecked,
    /// then take members while they stay in range, at most `limit`.
    pub fn lex_select(
        &self,
        r: &LexRange,
        rev: bool,
        offset: usize,
        limit: Option<usize>,
    ) -> Vec<(&[u8], f64)> {
        self.lex_walk(r, rev, offset, limit, true)
    }

    /// ZLEXCOUNT. The listpack form counts the walk; Redis's skiplist
    /// subtracts the ranks of the first and last members in range, which
    /// differs from the walk only when members have different scores (lex
    /// ranges are unspecified there; this follows a skiplist whose upper
    /// levels skip nothing in the way).
    pub fn lex_count(&self, r: &LexRange) -> usize {
        let ZSetValue::Skiplist { tree, .. } = self else {
            return self.lex_select(r, false, 0, None).len();
        };
        let same_score = tree.first().map(|e| e.0) == tree.last().map(|e| e.0);
        if same_score || r.is_empty() {
            return self.lex_select(r, false, 0, None).len();
        }
        let all: Vec<(&[u8], f64)> = self.iter().collect();
        let (Some(head), Some(tail)) = (all.first(), all.last()) else {
            return 0;
        };
        if !r.gte_min(tail.0) || !r.lte_max(head.0) {
            return 0;
        }
        let Some(first) = all.iter().position(|(m, _)| r.gte_min(m)) else {
            return 0;
        };
        if all.get(first).is_none_or(|(m, _)| !r.lte_max(m)) {
            return 0;
        }
        let run = all.iter().take_while(|(m, _)| r.lte_max(m)).count();
        match run
            .checked_sub(1)
            .and_then(|last| all.get(last).map(|e| (last, e)))
        {
            Some((last, (m, _))) if r.gte_min(m) => (last + 1).saturating_sub(first),
            _ => all.len() - first,
        }
    }

    /// The members ZREMRANGEBYLEX removes: [`Self::lex_select`] forward,
    /// except that Redis's skiplist deletion skips the "is anything in
    /// range" check its other lex walks make (it matters only when members
    /// have different scores, where lex ranges are unspecified).
    pub fn lex_delete_select(&self, r: &LexRange) -> Vec<(&[u8], f64)> {
        let precheck = matches!(self, ZSetValue::Listpack(_));
        self.lex_walk(r, false, 0, None, precheck)
    }

    fn lex_walk(
        &self,
        r: &LexRange,
        rev: bool,
        offset: usize,
        limit: Option<usize>,
        precheck: bool,
    ) -> Vec<(&[u8], f64)> {
        if r.is_empty() || self.is_empty() {
            return Vec::new();
        }
        let limit = limit.unwrap_or(usize::MAX);
        if let ZSetValue::Skiplist { tree, .. } = self {
            // The intended use: every member has the same score, so lex
            // order is index order and the span is found by key.
            let first = tree.first().map(|(s, _)| *s);
            let last = tree.last().map(|(s, _)| *s);
            if let (Some(s), Some(l)) = (first, last) {
                if s == l {
                    let lo = match &r.min {
                        LexBound::NegInf => Bound::Unbounded,
                        LexBound::PosInf => return Vec::new(),
                        LexBound::Incl(m) => Bound::Included((s, m.clone().into_boxed_slice())),
                        LexBound::Excl(m) => Bound::Excluded((s, m.clone().into_boxed_slice())),
                    };
                    let hi = match &r.max {
                        LexBound::PosInf => Bound::Unbounded,
                        LexBound::NegInf => return Vec::new(),
                        LexBound::Incl(m) => Bound::Included((s, m.clone().into_boxed_slice())),
                        LexBound::Excl(m) => Bound::Excluded((s, m.clone().into_boxed_slice())),
                    };
                    // `is_empty` above rules out reversed or empty spans.
                    let it = Iter::Tree(tree.range((lo, hi))).directed(rev);
                    return it.skip(offset).take(limit).collect();
                }
            }
        }
        let all: Vec<(&[u8], f64)> = self.iter().collect();
        let (Some(head), Some(tail)) = (all.first(), all.last()) else {
            return Vec::new();
        };
        // zzlIsInLexRange: the tail must reach the min, the head the max.
        if precheck && (!r.gte_min(tail.0) || !r.lte_max(head.0)) {
            return Vec::new();
        }
        let mut out = Vec::new();
        if rev {
            let Some(start) = all.iter().rposition(|(m, _)| r.lte_max(m)) else {
                return out;
            };
            let Some(first) = all.get(start) else {
                return out;
            };
            if !r.gte_min(first.0) {
                return out;
            }
            let Some(from) = start.checked_sub(offset) else {
                return out;
            };
            for e in all.iter().take(from + 1).rev() {
                if out.len() >= limit || !r.gte_min(e.0) {
                    break;
                }
                out.push(*e);
            }
        } else {
            let Some(start) = all.iter().position(|(m, _)| r.gte_min(m)) else {
                return out;
            };
            let Some(first) = all.get(start) else {
                return out;
            };
            if !r.lte_max(first.0) {
                return out;
            }
            for e in all.iter().skip(start.saturating_add(offset)) {
                if out.len() >= limit || !r.lte_max(e.0) {
                    break;
                }
                out.push(*e);
            }
        }
        out
    }

    /// Sets `member`'s score, adding the member if absent; converts to the
    /// large form first when the listpack would outgrow `limits`. Returns
    /// true if the member was added.
    pub fn insert(&mut self, member: &[u8], score: f64, limits: Limits) -> bool {
        if let ZSetValue::Listpack(lp) = self {
            if let Some(i) = lp.find(member, 0, 2) {
                let cur = lp.get(i + 1).and_then(parse_f64);
                if cur == Some(score) {
                    return false;
                }
                lp.remove_range(i, 2);
                lp_insert_sorted(lp, member, score);
                return false;
            }
            if lp.len() / 2 < limits.entries && member.len() <= limits.value {
                lp_insert_sorted(lp, member, score);
                return true;
            }
            self.convert_to_skiplist();
        }
        let ZSetValue::Skiplist { dict, tree } = self else {
            return false;
        };
        match dict.get_mut(member) {
            Some(cur) => {
                if *cur != score {
                    let boxed: Box<[u8]> = member.into();
                    tree.remove(&(Score(*cur), boxed.clone()));
                    tree.insert((Score(score), boxed));
                    *cur = score;
                }
                false
            }
            None => {
                let boxed: Box<[u8]> = member.into();
                dict.insert(boxed.clone(), score);
                tree.insert((Score(score), boxed));
                true
            }
        }
    }

    /// Removes `member`; returns its score if it was there.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        match self {
            ZSetValue::Listpack(lp) => {
                let i = lp.find(member, 0, 2)?;
                let s = lp.get(i + 1).and_then(parse_f64).unwrap_or(0.0);
                lp.remove_range(i, 2);
                Some(s)
            }
            ZSetValue::Skiplist { dict, tree } => {
                let s = dict.swap_remove(member)?;
                tree.remove(&(Score(s), Box::<[u8]>::from(member)));
                Some(s)
            }
        }
    }

    /// Removes and returns the lowest (or highest, `max`) member.
    pub fn pop(&mut self, max: bool) -> Option<(Vec<u8>, f64)> {
        match self {
            ZSetValue::Listpack(lp) => {
                let n = lp.len() / 2;
                let i = if max { n.checked_sub(1)? } else { 0 };
                let m = lp.get(2 * i)?.to_vec();
                let s = lp.get(2 * i + 1).and_then(parse_f64).unwrap_or(0.0);
                lp.remove_range(2 * i, 2);
                Some((m, s))
            }
            ZSetValue::Skiplist { dict, tree } => {
                let (s, m) = if max {
                    tree.pop_last()?
                } else {
                    tree.pop_first()?
                };
                dict.swap_remove(&m);
                Some((m.into_vec(), s.0))
            }
        }
    }

    /// One step of ZSCAN: a listpack is returned whole with cursor 0 (as
    /// Redis does for small encodings); the large form walks the member map
    /// downward from `cursor` (0 starts) for `count` slots, so a member
    /// present throughout the scan is returned even if others are removed.
    pub fn scan(&self, cursor: u64, count: usize) -> (u64, Vec<(&[u8], f64)>) {
        match self {
            ZSetValue::Listpack(lp) => (0, lp_pairs(lp).collect()),
            ZSetValue::Skiplist { dict, .. } => {
                let len = dict.len();
                let mut i = if cursor == 0 {
                    len
                } else {
                    usize::try_from(cursor).unwrap_or(len).min(len)
                };
                let mut out = Vec::new();
                let mut n = 0;
                while i > 0 && n < count {
                    i -= 1;
                    if let Some((m, s)) = dict.get_index(i) {
                        out.push((&m[..], *s));
                    }
                    n += 1;
                }
                (i as u64, out)
            }
        }
    }
}

/// The pair index and score of `member` in a listpack, parsing only the
/// score found.
fn lp_find(lp: &Listpack, member: &[u8]) -> Option<(usize, f64)> {
    let mut it = lp.iter();
    let mut i = 0;
    while let (Some(m), Some(s)) = (it.next(), it.next()) {
        if m == member {
            return Some((i, parse_f64(s).unwrap_or(0.0)));
        }
        i += 1;
    }
    None
}

/// A score as a listpack stores it. Redis's listpack form stores `-0` as
/// `0` (the skiplist keeps the sign), so ZSCORE of a small set never shows
/// `-0` while a large one can.
fn lp_score_text(score: f64) -> String {
    if score == 0.0 {
        "0".to_string()
    } else {
        format_double(score)
    }
}

/// Inserts a pair at its (score, member) position.
fn lp_insert_sorted(lp: &mut Listpack, member: &[u8], score: f64) {
    let pos = lp_pairs(lp)
        .position(|(m, s)| cmp_elements((m, s), (member, score)) == Ordering::Greater)
        .unwrap_or(lp.len() / 2);
    lp.insert(2 * pos, member);
    lp.insert(2 * pos + 1, lp_score_text(score).as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: Limits = Limits {
        entries: 128,
        value: 64,
    };

    fn members(z: &ZSetValue) -> Vec<(String, f64)> {
        z.iter()
            .map(|(m, s)| (String::from_utf8(m.to_vec()).unwrap(), s))
            .collect()
    }

    fn both_forms(pairs: &[(&str, f64)]) -> [ZSetValue; 2] {
        let mut small = ZSetValue::default();
        let mut large = ZSetValue::default();
        large.convert_to_skiplist();
        for (m, s) in pairs {
            small.insert(m.as_bytes(), *s, SMALL);
            large.insert(m.as_bytes(), *s, SMALL);
        }
        assert_eq!(small.encoding(), "listpack");
        assert_eq!(large.encoding(), "skiplist");
        [small, large]
    }

    #[test]
    fn order_is_score_then_member_and_negative_zero_ties() {
        for z in both_forms(&[
            ("b", 1.0),
            ("a", 1.0),
            ("c", -0.0),
            ("d", 0.0),
            ("e", f64::NEG_INFINITY),
        ]) {
            let got: Vec<String> = members(&z).into_iter().map(|(m, _)| m).collect();
            assert_eq!(got, ["e", "c", "d", "a", "b"]);
            assert_eq!(z.rank(b"a").map(|r| r.0), Some(3));
            assert_eq!(z.rank(b"zz"), None);
            // Only the large form keeps the sign of -0, as in Redis.
            let large = z.encoding() == "skiplist";
            assert_eq!(z.score(b"c").map(f64::is_sign_negative), Some(large));
        }
    }

    #[test]
    fn insert_update_remove_pop() {
        for mut z in both_forms(&[("a", 1.0), ("b", 2.0), ("c", 3.0)]) {
            assert!(!z.insert(b"a", 5.0, SMALL));
            assert!(z.insert(b"d", 0.5, SMALL));
            assert_eq!(members(&z).first().unwrap().0, "d");
            assert_eq!(members(&z).last().unwrap(), &("a".to_string(), 5.0));
            assert_eq!(z.remove(b"b"), Some(2.0));
            assert_eq!(z.remove(b"b"), None);
            assert_eq!(z.pop(true), Some((b"a".to_vec(), 5.0)));
            assert_eq!(z.pop(false), Some((b"d".to_vec(), 0.5)));
            assert_eq!(z.len(), 1);
        }
    }

    #[test]
    fn converts_on_thresholds() {
        let lim = Limits {
            entries: 2,
            value: 3,
        };
        let mut z = ZSetValue::default();
        z.insert(b"a", 1.0, lim);
        z.insert(b"b", 2.0, lim);
        assert_eq!(z.encoding(), "listpack");
        z.insert(b"c", 3.0, lim);
        assert_eq!(z.encoding(), "skiplist");
        assert_eq!(members(&z).len(), 3);
        let mut z = ZSetValue::default();
        z.insert(b"abcd", 1.0, lim);
        assert_eq!(z.encoding(), "skiplist");
        let z = ZSetValue::from_sorted(vec![(b"a".to_vec(), 1.0), (b"b".to_vec(), 2.0)], lim);
        assert_eq!(z.encoding(), "listpack");
        let z = ZSetValue::from_sorted(vec![(b"a".to_vec(), 1.0), (b"bbbb".to_vec(), 2.0)], lim);
        assert_eq!(z.encoding(), "skiplist");
    }

    #[test]
    fn score_ranges_agree_across_forms() {
        let pairs: Vec<(String, f64)> = (0..20)
            .map(|i| (format!("m{i:02}"), f64::from(i / 2)))
            .collect();
        let refs: Vec<(&str, f64)> = pairs.iter().map(|(m, s)| (m.as_str(), *s)).collect();
        let [small, large] = both_forms(&refs);
        let ranges = [
            ScoreRange {
                min: 2.0,
                max: 4.0,
                minex: false,
                maxex: false,
            },
            ScoreRange {
                min: 2.0,
                max: 4.0,
                minex: true,
                maxex: true,
            },
            ScoreRange {
                min: f64::NEG_INFINITY,
                max: f64::INFINITY,
                minex: false,
                maxex: false,
            },
            ScoreRange {
                min: f64::INFINITY,
                max: f64::INFINITY,
                minex: true,
                maxex: false,
            },
            ScoreRange {
                min: 3.0,
                max: 3.0,
                minex: false,
                maxex: false,
            },
            ScoreRange {
                min: 3.0,
                max: 3.0,
                minex: true,
                maxex: false,
            },
            ScoreRange {
                min: 5.0,
                max: 1.0,
                minex: false,
                maxex: false,
            },
            ScoreRange {
                min: 3.5,
                max: 3.9,
                minex: false,
                maxex: false,
            },
        ];
        for r in &ranges {
            for rev in [false, true] {
                for (off, lim) in [(0, None), (1, Some(2)), (3, None)] {
                    let a = small.score_select(r, rev, off, lim);
                    let b = large.score_select(r, rev, off, lim);
                    assert_eq!(a, b, "{r:?} rev={rev} off={off}");
                }
            }
        }
        let r = ranges.first().unwrap();
        let got: Vec<f64> = small
            .score_select(r, false, 0, None)
            .iter()
            .map(|p| p.1)
            .collect();
        assert_eq!(got, [2.0, 2.0, 3.0, 3.0, 4.0, 4.0]);
    }

    #[test]
    fn lex_ranges_agree_across_forms() {
        let names = ["a", "b", "c", "d", "e", "f", "g"];
        let refs: Vec<(&str, f64)> = names.iter().map(|m| (*m, 0.0)).collect();
        let [small, large] = both_forms(&refs);
        let b = |s: &str| s.as_bytes().to_vec();
        let ranges = [
            LexRange {
                min: LexBound::NegInf,
                max: LexBound::PosInf,
            },
            LexRange {
                min: LexBound::Incl(b("b")),
                max: LexBound::Excl(b("e")),
            },
            LexRange {
                min: LexBound::Excl(b("b")),
                max: LexBound::Incl(b("e")),
            },
            LexRange {
                min: LexBound::Incl(b("bb")),
                max: LexBound::Incl(b("zz")),
            },
            LexRange {
                min: LexBound::PosInf,
                max: LexBound::PosInf,
            },
            LexRange {
                min: LexBound::Incl(b("e")),
                max: LexBound::Incl(b("b")),
            },
            LexRange {
                min: LexBound::Incl(b("c")),
                max: LexBound::Incl(b("c")),
            },
        ];
        for r in &ranges {
            for rev in [false, true] {
                for (off, lim) in [(0, None), (1, Some(2)), (9, None)] {
                    assert_eq!(
                        small.lex_select(r, rev, off, lim),
                        large.lex_select(r, rev, off, lim),
                        "{r:?} rev={rev} off={off}"
                    );
                }
            }
        }
        let got: Vec<&[u8]> = small
            .lex_select(&ranges[1], true, 0, None)
            .iter()
            .map(|p| p.0)
            .collect();
        assert_eq!(got, [&b"d"[..], b"c", b"b"]);
    }

    #[test]
    fn lex_walk_over_mixed_scores_follows_redis() {
        // Elements ordered a(1) z(2) b(3): the walk stops at z.
        let [small, _] = both_forms(&[("a", 1.0), ("z", 2.0), ("b", 3.0)]);
        let r = LexRange {
            min: LexBound::Incl(b"a".to_vec()),
            max: LexBound::Incl(b"b".to_vec()),
        };
        assert_eq!(small.lex_select(&r, false, 0, None), vec![(&b"a"[..], 1.0)]);
        // With an offset of 2 the walk skips unchecked and lands on b.
        assert_eq!(small.lex_select(&r, false, 2, None), vec![(&b"b"[..], 3.0)]);
    }

    #[test]
    fn scan_large_form_visits_everything() {
        let mut z = ZSetValue::default();
        z.convert_to_skiplist();
        for i in 0..50 {
            z.insert(format!("m{i}").as_bytes(), f64::from(i), SMALL);
        }
        let mut seen = std::collections::BTreeSet::new();
        let mut cursor = 0;
        loop {
            let (next, got) = z.scan(cursor, 7);
            seen.extend(got.into_iter().map(|(m, _)| m.to_vec()));
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        assert_eq!(seen.len(), 50);
    }

    #[test]
    fn next_up_steps() {
        assert!(next_up(1.0) > 1.0);
        assert!(next_up(-1.0) > -1.0);
        assert!(next_up(-0.0) > 0.0);
        assert_eq!(next_up(f64::INFINITY), f64::INFINITY);
        assert_eq!(next_up(f64::NEG_INFINITY), -f64::MAX);
    }
}
