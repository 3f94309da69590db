//! `SetValue`: a sorted vector of integers (intset) while all members are
//! integers and few, a listpack while small, a hash set when large.
//!
//! The transitions follow Redis 7.2's `setTypeCreate`/`setTypeAddAux`:
//!
//! * an intset takes integers (as `string2ll` reads them) up to
//!   `set-max-intset-entries`, then becomes a table;
//! * a non-integer added to an intset makes it a listpack if the intset has
//!   fewer than `set-max-listpack-entries` members and the new member is at
//!   most `set-max-listpack-value` bytes, else a table;
//! * a listpack takes members while it has fewer than
//!   `set-max-listpack-entries` and the member fits `set-max-listpack-value`,
//!   else becomes a table.
//!
//! Nothing converts back. Intset order is numeric (what Redis replies for
//! integer sets), listpack and table order is insertion order; the table
//! removes with `swap_remove`, so SSCAN's downward index walk never misses a
//! member present for the whole scan, and random picks by index are
//! deterministic given the RNG.

use indexmap::IndexSet;

use super::intset::{self, IntSet};
use super::listpack::{self, Listpack};
use crate::config::EngineConfig;
use crate::keyspace::FastHasher;
use crate::number::parse_i64;

/// The large encoding.
pub type SetTable = IndexSet<Box<[u8]>, FastHasher>;

/// Redis caps `set-max-intset-entries` at this (`intsetMaxEntries`).
const INTSET_MAX_ENTRIES_CAP: usize = 1 << 30;

/// A set's value.
#[derive(Debug, Clone)]
pub enum SetValue {
    /// Sorted integers at the narrowest width.
    Intset(IntSet),
    /// Small sets of strings.
    Listpack(Listpack),
    /// Large sets (boxed: the table's header would double the size of
    /// every small set).
    Table(Box<SetTable>),
}

impl Default for SetValue {
    fn default() -> Self {
        SetValue::Intset(IntSet::new())
    }
}

/// One member as stored: an intset holds integers, the others bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Member<'a> {
    /// An intset member.
    Int(i64),
    /// A listpack or table member.
    Bytes(&'a [u8]),
}

impl Member<'_> {
    /// Runs `f` on the member's bytes (integers in decimal, as Redis prints).
    pub fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        match self {
            Member::Int(n) => f(itoa::Buffer::new().format(*n).as_bytes()),
            Member::Bytes(b) => f(b),
        }
    }

    /// The member's bytes, owned.
    pub fn to_vec(&self) -> Vec<u8> {
        self.with_bytes(<[u8]>::to_vec)
    }
}

/// Iterator over a set's members, in encoding order.
pub enum Iter<'a> {
    /// Over an intset (ascending).
    Intset(intset::Iter<'a>),
    /// Over a listpack.
    Listpack(listpack::Iter<'a>),
    /// Over a table.
    Table(indexmap::set::Iter<'a, Box<[u8]>>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = Member<'a>;

    fn next(&mut self) -> Option<Member<'a>> {
        match self {
            Iter::Intset(it) => it.next().map(Member::Int),
            Iter::Listpack(it) => it.next().map(Member::Bytes),
            Iter::Table(it) => it.next().map(|m| Member::Bytes(m)),
        }
    }
}

/// Members addressable by position, for random picks: a listpack is copied
/// into a vector of slices once (it is small), the others are indexed directly.
pub enum Indexed<'a> {
    /// The intset.
    Intset(&'a IntSet),
    /// The listpack's members.
    Members(Vec<&'a [u8]>),
    /// The table.
    Table(&'a SetTable),
}

impl<'a> Indexed<'a> {
    /// The member at position `i`.
    pub fn get(&self, i: usize) -> Option<Member<'a>> {
        match self {
            Indexed::Intset(v) => v.get(i).map(Member::Int),
            Indexed::Members(v) => v.get(i).map(|m| Member::Bytes(m)),
            Indexed::Table(t) => t.get_index(i).map(|m| Member::Bytes(m)),
        }
    }
}

fn intset_max_entries(cfg: &EngineConfig) -> usize {
    cfg.set_max_intset_entries.min(INTSET_MAX_ENTRIES_CAP)
}

/// Characters of an integer in decimal, sign included (Redis's `sdigits10`).
fn digits10(n: i64) -> usize {
    itoa::Buffer::new().format(n).len()
}

impl SetValue {
    /// An empty set sized for `size_hint` members whose first is `first`,
    /// as Redis's `setTypeCreate` (SADD on a new key passes its argument
    /// count, so a big SADD starts as a table).
    pub fn with_hint(first: &[u8], size_hint: usize, cfg: &EngineConfig) -> SetValue {
        if parse_i64(first).is_some() && size_hint <= intset_max_entries(cfg) {
            SetValue::Intset(IntSet::new())
        } else if size_hint <= cfg.set_max_listpack_entries {
            SetValue::Listpack(Listpack::new())
        } else {
            SetValue::Table(Box::new(SetTable::with_capacity_and_hasher(
                size_hint,
                FastHasher::default(),
            )))
        }
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        match self {
            SetValue::Intset(v) => v.len(),
            SetValue::Listpack(lp) => lp.len(),
            SetValue::Table(t) => t.len(),
        }
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `OBJECT ENCODING` name.
    pub fn encoding(&self) -> &'static str {
        match self {
            SetValue::Intset(_) => "intset",
            SetValue::Listpack(_) => "listpack",
            SetValue::Table(_) => "hashtable",
        }
    }

    /// True for the table encoding (SSCAN pages only through tables).
    pub fn is_table(&self) -> bool {
        matches!(self, SetValue::Table(_))
    }

    /// Approximate heap bytes.
    pub fn mem_usage(&self) -> usize {
        match self {
            SetValue::Intset(v) => v.heap_size(),
            SetValue::Listpack(lp) => lp.heap_size(),
            SetValue::Table(t) => t.iter().map(|m| 24 + super::bytes_heap(m)).sum(),
        }
    }

    /// Whether `member` is in the set.
    pub fn contains(&self, member: &[u8]) -> bool {
        match self {
            SetValue::Intset(v) => parse_i64(member).is_some_and(|n| v.contains(n)),
            SetValue::Listpack(lp) => lp.find(member, 0, 1).is_some(),
            SetValue::Table(t) => t.contains(member),
        }
    }

    /// Adds `member`; true if it was not there. Converts encodings as the
    /// module doc describes.
    pub fn add(&mut self, member: &[u8], cfg: &EngineConfig) -> bool {
        match self {
            SetValue::Intset(v) => {
                if let Some(n) = parse_i64(member) {
                    if !v.insert(n) {
                        return false;
                    }
                    if v.len() > intset_max_entries(cfg) {
                        self.convert_to_table();
                    }
                    return true;
                }
                // A non-integer cannot be in an intset: it is new.
                let widest = match (v.first(), v.last()) {
                    (Some(lo), Some(hi)) => digits10(lo).max(digits10(hi)),
                    _ => 0,
                };
                if v.len() < cfg.set_max_listpack_entries
                    && member.len() <= cfg.set_max_listpack_value
                    && widest <= cfg.set_max_listpack_value
                {
                    self.convert_to_listpack();
                    if let SetValue::Listpack(lp) = self {
                        lp.push_back(member);
                    }
                } else {
                    self.convert_to_table();
                    if let SetValue::Table(t) = self {
                        t.insert(member.into());
                    }
                }
                true
            }
            SetValue::Listpack(lp) => {
                if lp.find(member, 0, 1).is_some() {
                    return false;
                }
                if lp.len() < cfg.set_max_listpack_entries
                    && member.len() <= cfg.set_max_listpack_value
                {
                    lp.push_back(member);
                } else {
                    self.convert_to_table();
                    if let SetValue::Table(t) = self {
                        t.insert(member.into());
                    }
                }
                true
            }
            SetValue::Table(t) => t.insert(member.into()),
        }
    }

    /// Removes `member`; true if it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match self {
            SetValue::Intset(v) => {
                let Some(n) = parse_i64(member) else {
                    return false;
                };
                v.remove(n)
            }
            SetValue::Listpack(lp) => match lp.find(member, 0, 1) {
                Some(i) => {
                    lp.remove(i);
                    true
                }
                None => false,
            },
            // swap_remove: see the module doc (SSCAN guarantee, O(1)).
            SetValue::Table(t) => t.swap_remove(member),
        }
    }

    /// Iterates over the members in encoding order.
    pub fn iter(&self) -> Iter<'_> {
        match self {
            SetValue::Intset(v) => Iter::Intset(v.iter()),
            SetValue::Listpack(lp) => Iter::Listpack(lp.iter()),
            SetValue::Table(t) => Iter::Table(t.iter()),
        }
    }

    /// The members, addressable by position (for random picks).
    pub fn indexed(&self) -> Indexed<'_> {
        match self {
            SetValue::Intset(v) => Indexed::Intset(v),
            SetValue::Listpack(lp) => Indexed::Members(lp.iter().collect()),
            SetValue::Table(t) => Indexed::Table(t),
        }
    }

    /// Switches an intset to a listpack (members in ascending order).
    fn convert_to_listpack(&mut self) {
        if let SetValue::Intset(v) = self {
            let mut lp = Listpack::new();
            let mut buf = itoa::Buffer::new();
            for n in v.iter() {
                lp.push_back(buf.format(n).as_bytes());
            }
            *self = SetValue::Listpack(lp);
        }
    }

    /// Switches to the table encoding, keeping the order.
    pub fn convert_to_table(&mut self) {
        if self.is_table() {
            return;
        }
        let mut t = SetTable::with_capacity_and_hasher(self.len(), FastHasher::default());
        for m in self.iter() {
            t.insert(m.with_bytes(|b| Box::<[u8]>::from(b)));
        }
        *self = SetValue::Table(Box::new(t));
    }

    /// Visits up to `count` members of the table encoding from `cursor` (0
    /// starts), walking indices downward as `Db::scan`; returns the next
    /// cursor (0 when done). An intset or listpack is visited whole and
    /// returns 0, as Redis replies to SSCAN on them in one call.
    pub fn scan(&self, cursor: u64, count: usize, mut visit: impl FnMut(Member<'_>)) -> u64 {
        let SetValue::Table(t) = self else {
            for m in self.iter() {
                visit(m);
            }
            return 0;
        };
        let len = t.len();
        let mut i = if cursor == 0 {
            len
        } else {
            usize::try_from(cursor).unwrap_or(len).min(len)
        };
        let mut n = 0;
        while i > 0 && n < count {
            i -= 1;
            if let Some(m) = t.get_index(i) {
                visit(Member::Bytes(m));
            }
            n += 1;
        }
        i as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(s: &SetValue) -> Vec<Vec<u8>> {
        s.iter().map(|m| m.to_vec()).collect()
    }

    /// Thresholds pinned to redis.conf's values, whatever the defaults become.
    fn cfg() -> EngineConfig {
        EngineConfig {
            set_max_intset_entries: 512,
            set_max_listpack_entries: 128,
            set_max_listpack_value: 64,
            ..EngineConfig::default()
        }
    }

    #[test]
    fn intset_is_sorted_and_strict_about_integers() {
        let c = cfg();
        let mut s = SetValue::default();
        assert!(s.add(b"3", &c));
        assert!(s.add(b"-1", &c));
        assert!(s.add(b"10", &c));
        assert!(!s.add(b"3", &c));
        assert_eq!(s.encoding(), "intset");
        assert_eq!(
            members(&s),
            vec![b"-1".to_vec(), b"3".to_vec(), b"10".to_vec()]
        );
        assert!(s.contains(b"10"));
        assert!(!s.contains(b"010"), "not canonical: not the integer 10");
        assert!(!s.contains(b"x"));
        assert!(!s.remove(b"x"));
        assert!(s.remove(b"-1"));
        assert_eq!(s.len(), 2);
        assert!(s.mem_usage() > 0);
        // "010" is not an integer to Redis, so it is a new string member.
        assert!(s.add(b"010", &c));
        assert_eq!(s.encoding(), "listpack");
        assert_eq!(
            members(&s),
            vec![b"3".to_vec(), b"10".to_vec(), b"010".to_vec()]
        );
        assert!(s.contains(b"10") && s.contains(b"010"));
    }

    #[test]
    fn intset_overflow_goes_straight_to_table() {
        let c = EngineConfig {
            set_max_intset_entries: 4,
            ..cfg()
        };
        let mut s = SetValue::default();
        for i in 0..4 {
            s.add(i.to_string().as_bytes(), &c);
        }
        assert_eq!(s.encoding(), "intset");
        s.add(b"4", &c);
        assert_eq!(s.encoding(), "hashtable");
        assert_eq!(members(&s)[0], b"0".to_vec());
        assert!(s.contains(b"4"));
    }

    #[test]
    fn intset_to_table_when_listpack_would_not_fit() {
        let c = EngineConfig {
            set_max_listpack_entries: 3,
            ..cfg()
        };
        let mut s = SetValue::default();
        for i in 0..3 {
            s.add(i.to_string().as_bytes(), &c);
        }
        s.add(b"a", &c);
        assert_eq!(s.encoding(), "hashtable");
        let mut s = SetValue::default();
        s.add(b"1", &c);
        s.add(&[b'x'; 65], &c);
        assert_eq!(s.encoding(), "hashtable");
        assert!(s.contains(&[b'x'; 65]) && s.contains(b"1"));
    }

    #[test]
    fn listpack_limits() {
        let c = EngineConfig {
            set_max_listpack_entries: 3,
            ..cfg()
        };
        let mut s = SetValue::default();
        for m in [&b"a"[..], b"b", b"c"] {
            assert!(s.add(m, &c));
        }
        assert!(!s.add(b"a", &c));
        assert_eq!(s.encoding(), "listpack");
        assert!(s.remove(b"b"));
        assert!(!s.remove(b"b"));
        s.add(b"d", &c);
        assert_eq!(s.encoding(), "listpack");
        s.add(b"e", &c);
        assert_eq!(s.encoding(), "hashtable");
        assert_eq!(
            members(&s),
            vec![b"a".to_vec(), b"c".to_vec(), b"d".to_vec(), b"e".to_vec()]
        );

        let mut s = SetValue::default();
        s.add(b"a", &c);
        s.add(&[b'y'; 65], &c);
        assert_eq!(s.encoding(), "hashtable");
        assert!(s.mem_usage() > 0);
    }

    #[test]
    fn with_hint_follows_set_type_create() {
        let c = cfg();
        assert_eq!(SetValue::with_hint(b"1", 3, &c).encoding(), "intset");
        assert_eq!(SetValue::with_hint(b"1", 600, &c).encoding(), "hashtable");
        assert_eq!(SetValue::with_hint(b"a", 128, &c).encoding(), "listpack");
        assert_eq!(SetValue::with_hint(b"a", 129, &c).encoding(), "hashtable");
    }

    #[test]
    fn indexed_and_scan() {
        let c = EngineConfig {
            set_max_listpack_entries: 1,
            ..cfg()
        };
        let mut s = SetValue::default();
        s.add(b"7", &c);
        assert_eq!(s.indexed().get(0), Some(Member::Int(7)));
        assert_eq!(s.indexed().get(1), None);
        for i in 0..100 {
            s.add(format!("m{i}").as_bytes(), &c);
        }
        assert!(s.is_table());
        assert_eq!(s.indexed().get(1), Some(Member::Bytes(b"m0")));
        let mut seen = std::collections::HashSet::new();
        let mut cursor = 0;
        let mut round = 0;
        loop {
            cursor = s.scan(cursor, 9, |m| {
                seen.insert(m.to_vec());
            });
            for j in 0..3 {
                s.remove(format!("m{}", 50 + round * 3 + j).as_bytes());
            }
            round += 1;
            if cursor == 0 {
                break;
            }
        }
        for i in 0..50 {
            assert!(seen.contains(format!("m{i}").as_bytes()), "m{i} missed");
        }
        let small = SetValue::with_hint(b"a", 1, &cfg());
        assert_eq!(small.scan(3, 1, |_| {}), 0);
    }
}
