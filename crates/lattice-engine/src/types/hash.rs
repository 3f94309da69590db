//! `HashValue`: a listpack of alternating field/value entries while small,
//! an insertion-ordered hash table when large.
//!
//! The switch follows Redis 7.0's `hashTypeSet`: a field or value longer than
//! `hash-max-listpack-value`, or more than `hash-max-listpack-entries` fields,
//! converts the listpack into a table, and a table never converts back.
//! Listpack order is insertion order (an update keeps the field's place), so
//! HGETALL, HKEYS and a whole-hash HRANDFIELD reply in the same order as Redis
//! for small hashes. The table removes with `swap_remove`, which keeps the
//! index-walking-downward HSCAN from missing a field present for the whole
//! scan (see `Db::scan`).

use indexmap::IndexMap;

use super::listpack::{self, Listpack};
use crate::config::EngineConfig;
use crate::keyspace::FastHasher;

/// The large encoding: field → value, in insertion order.
pub type HashTable = IndexMap<Box<[u8]>, Box<[u8]>, FastHasher>;

/// A hash's value.
#[derive(Debug, Clone)]
pub enum HashValue {
    /// field, value, field, value … (small)
    Listpack(Listpack),
    /// field → value (large; boxed so a small hash is not the table's size)
    Table(Box<HashTable>),
}

impl Default for HashValue {
    fn default() -> Self {
        HashValue::Listpack(Listpack::new())
    }
}

/// Iterator over a hash's `(field, value)` pairs, in encoding order.
pub enum Iter<'a> {
    /// Over a listpack: consecutive entries pair up.
    Listpack(listpack::Iter<'a>),
    /// Over a table.
    Table(indexmap::map::Iter<'a, Box<[u8]>, Box<[u8]>>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Iter::Listpack(it) => {
                let field = it.next()?;
                let value = it.next()?;
                Some((field, value))
            }
            Iter::Table(it) => it.next().map(|(f, v)| (&**f, &**v)),
        }
    }
}

/// Pairs addressable by position, for random picks: a listpack is copied
/// into a vector of slices once (it is small), a table is indexed directly.
pub enum Indexed<'a> {
    /// The listpack's pairs.
    Pairs(Vec<(&'a [u8], &'a [u8])>),
    /// The table.
    Table(&'a HashTable),
}

impl<'a> Indexed<'a> {
    /// The pair at position `i`.
    pub fn get(&self, i: usize) -> Option<(&'a [u8], &'a [u8])> {
        match self {
            Indexed::Pairs(v) => v.get(i).copied(),
            Indexed::Table(t) => t.get_index(i).map(|(f, v)| (&**f, &**v)),
        }
    }
}

impl HashValue {
    /// Number of fields.
    pub fn len(&self) -> usize {
        match self {
            HashValue::Listpack(lp) => lp.len() / 2,
            HashValue::Table(t) => t.len(),
        }
    }

    /// True when there are no fields.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `OBJECT ENCODING` name.
    pub fn encoding(&self) -> &'static str {
        match self {
            HashValue::Listpack(_) => "listpack",
            HashValue::Table(_) => "hashtable",
        }
    }

    /// True while the small (listpack) encoding is in use.
    pub fn is_listpack(&self) -> bool {
        matches!(self, HashValue::Listpack(_))
    }

    /// Approximate heap bytes.
    pub fn mem_usage(&self) -> usize {
        match self {
            HashValue::Listpack(lp) => lp.heap_size(),
            HashValue::Table(t) => t
                .iter()
                .map(|(k, v)| 40 + super::bytes_heap(k) + super::bytes_heap(v))
                .sum(),
        }
    }

    /// The value of `field`.
    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match self {
            HashValue::Listpack(_) => self.iter().find(|(f, _)| *f == field).map(|(_, v)| v),
            HashValue::Table(t) => t.get(field).map(|v| &**v),
        }
    }

    /// Whether `field` exists.
    pub fn contains(&self, field: &[u8]) -> bool {
        self.get(field).is_some()
    }

    /// Sets `field` to `value`; true if the field is new. Converts to the
    /// table encoding when the thresholds in `cfg` are crossed.
    pub fn set(&mut self, field: &[u8], value: &[u8], cfg: &EngineConfig) -> bool {
        if self.is_listpack()
            && (field.len() > cfg.hash_max_listpack_value
                || value.len() > cfg.hash_max_listpack_value)
        {
            self.convert_to_table();
        }
        let created = match self {
            HashValue::Listpack(lp) => match lp.find(field, 0, 2) {
                Some(i) => {
                    lp.replace(i + 1, value);
                    false
                }
                None => {
                    lp.push_back(field);
                    lp.push_back(value);
                    true
                }
            },
            // Update in place when the field exists: no owned key to build.
            HashValue::Table(t) => match t.get_mut(field) {
                Some(v) => {
                    *v = value.into();
                    false
                }
                None => t.insert(field.into(), value.into()).is_none(),
            },
        };
        if self.is_listpack() && self.len() > cfg.hash_max_listpack_entries {
            self.convert_to_table();
        }
        created
    }

    /// Removes `field`; true if it existed.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self {
            HashValue::Listpack(lp) => match lp.find(field, 0, 2) {
                Some(i) => {
                    lp.remove_range(i, 2);
                    true
                }
                None => false,
            },
            // swap_remove: see the module doc (HSCAN guarantee, O(1)).
            HashValue::Table(t) => t.swap_remove(field).is_some(),
        }
    }

    /// Iterates over `(field, value)` pairs in encoding order.
    pub fn iter(&self) -> Iter<'_> {
        match self {
            HashValue::Listpack(lp) => Iter::Listpack(lp.iter()),
            HashValue::Table(t) => Iter::Table(t.iter()),
        }
    }

    /// The pairs, addressable by position (for random picks).
    pub fn indexed(&self) -> Indexed<'_> {
        match self {
            HashValue::Listpack(_) => Indexed::Pairs(self.iter().collect()),
            HashValue::Table(t) => Indexed::Table(t),
        }
    }

    /// Switches to the table encoding, keeping the order.
    pub fn convert_to_table(&mut self) {
        if let HashValue::Listpack(_) = self {
            let mut t = HashTable::with_capacity_and_hasher(self.len(), FastHasher::default());
            for (f, v) in self.iter() {
                t.insert(f.into(), v.into());
            }
            *self = HashValue::Table(Box::new(t));
        }
    }

    /// Visits up to `count` pairs of the table encoding from `cursor` (0
    /// starts), walking indices downward as `Db::scan`; returns the next
    /// cursor (0 when done). A listpack is visited whole and returns 0, as
    /// Redis replies to HSCAN on a listpack in one call.
    pub fn scan(&self, cursor: u64, count: usize, mut visit: impl FnMut(&[u8], &[u8])) -> u64 {
        let HashValue::Table(t) = self else {
            for (f, v) in self.iter() {
                visit(f, v);
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
            if let Some((f, v)) = t.get_index(i) {
                visit(f, v);
            }
            n += 1;
        }
        i as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(h: &HashValue) -> Vec<(Vec<u8>, Vec<u8>)> {
        h.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect()
    }

    #[test]
    fn listpack_set_get_remove_keep_insertion_order() {
        let cfg = EngineConfig::default();
        let mut h = HashValue::default();
        assert!(h.is_empty());
        assert!(h.set(b"a", b"1", &cfg));
        assert!(h.set(b"b", b"2", &cfg));
        assert!(h.set(b"c", b"", &cfg));
        assert!(!h.set(b"a", b"10", &cfg));
        assert_eq!(h.encoding(), "listpack");
        assert_eq!(h.len(), 3);
        assert_eq!(h.get(b"a"), Some(&b"10"[..]));
        assert_eq!(h.get(b"c"), Some(&b""[..]));
        assert_eq!(h.get(b"1"), None, "values are not fields");
        assert_eq!(
            pairs(&h),
            vec![
                (b"a".to_vec(), b"10".to_vec()),
                (b"b".to_vec(), b"2".to_vec()),
                (b"c".to_vec(), b"".to_vec())
            ]
        );
        assert!(h.remove(b"b"));
        assert!(!h.remove(b"b"));
        assert!(!h.remove(b"10"));
        assert_eq!(h.len(), 2);
        assert!(h.contains(b"c"));
        assert_eq!(h.indexed().get(1), Some((&b"c"[..], &b""[..])));
        assert!(h.mem_usage() > 0);
    }

    #[test]
    fn long_field_or_value_converts() {
        let cfg = EngineConfig::default();
        let long = vec![b'x'; cfg.hash_max_listpack_value + 1];
        let mut h = HashValue::default();
        h.set(b"a", b"1", &cfg);
        h.set(b"b", &long[..cfg.hash_max_listpack_value], &cfg);
        assert_eq!(h.encoding(), "listpack");
        h.set(b"c", &long, &cfg);
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(pairs(&h)[0], (b"a".to_vec(), b"1".to_vec()), "order kept");

        let mut h = HashValue::default();
        h.set(&long, b"v", &cfg);
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.get(&long), Some(&b"v"[..]));
        assert!(h.mem_usage() > 0);
    }

    #[test]
    fn too_many_fields_converts_and_never_back() {
        let cfg = EngineConfig {
            hash_max_listpack_entries: 4,
            ..EngineConfig::default()
        };
        let mut h = HashValue::default();
        for i in 0..4 {
            h.set(format!("f{i}").as_bytes(), b"v", &cfg);
        }
        assert_eq!(h.encoding(), "listpack");
        h.set(b"f0", b"w", &cfg);
        assert_eq!(h.encoding(), "listpack", "an update adds no field");
        h.set(b"f4", b"v", &cfg);
        assert_eq!(h.encoding(), "hashtable");
        for i in 0..5 {
            assert!(h.remove(format!("f{i}").as_bytes()));
        }
        assert!(h.is_empty());
        assert_eq!(h.encoding(), "hashtable");
    }

    #[test]
    fn table_scan_visits_all_fields_present_throughout() {
        let cfg = EngineConfig {
            hash_max_listpack_entries: 1,
            ..EngineConfig::default()
        };
        let mut h = HashValue::default();
        for i in 0..100 {
            h.set(format!("f{i}").as_bytes(), b"v", &cfg);
        }
        let mut seen = std::collections::HashSet::new();
        let mut cursor = 0;
        let mut round = 0;
        loop {
            cursor = h.scan(cursor, 7, |f, _| {
                seen.insert(f.to_vec());
            });
            for j in 0..3 {
                h.remove(format!("f{}", 50 + round * 3 + j).as_bytes());
            }
            round += 1;
            if cursor == 0 {
                break;
            }
        }
        for i in 0..50 {
            assert!(seen.contains(format!("f{i}").as_bytes()), "f{i} missed");
        }
    }

    #[test]
    fn listpack_scan_returns_everything_at_once() {
        let cfg = EngineConfig::default();
        let mut h = HashValue::default();
        for i in 0..20 {
            h.set(format!("f{i}").as_bytes(), b"v", &cfg);
        }
        let mut n = 0;
        assert_eq!(h.scan(5, 1, |_, _| n += 1), 0);
        assert_eq!(n, 20);
    }
}
