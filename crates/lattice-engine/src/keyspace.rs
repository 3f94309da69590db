//! #[PerformanceCriticalPath]
//! One database's keyspace: an insertion-ordered hash map of keys to entries.
//!
//! Why `IndexMap`: its order depends only on the sequence of inserts and
//! removals (never on the hasher's seed), so a random pick — `RANDOMKEY`, an
//! eviction sample, `SPOP` — made with the entry's seeded RNG chooses the same
//! key on every replica. It also gives O(1) access by index, which makes
//! sampling and `SCAN` cheap. `SCAN` walks indices downward: a `swap_remove`
//! moves the last (already visited) element into the hole, so an element
//! present for the whole scan is never missed — Redis's guarantee.
//!
//! Keys with a TTL are also listed in `volatile`, so active expiry and the
//! `volatile-*` eviction policies sample only them.

use indexmap::{IndexMap, IndexSet};
use smallvec::SmallVec;

use crate::value::Value;

/// The hasher for keyspace and collection tables: fast, seeded per process.
/// Seeds do not leak into behaviour because iteration order is insertion order.
pub type FastHasher = foldhash::fast::RandomState;

/// A key. Up to 16 bytes are stored inline.
pub type Key = SmallVec<[u8; 16]>;

/// One key's entry.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The value.
    pub value: Value,
    /// Absolute expiry in Unix milliseconds; 0 means none.
    pub expire_at: u64,
    /// LRU clock (seconds, 24 bits) or, under an LFU policy, minutes << 8 | counter.
    pub access: u32,
}

/// Redis's initial LFU counter for a new key.
pub const LFU_INIT_VAL: u32 = 5;

impl Entry {
    /// True if the entry has a TTL that has passed at `now_ms`.
    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.expire_at != 0 && self.expire_at <= now_ms
    }
}

/// A database: keys, and the subset of keys with a TTL.
#[derive(Debug, Default, Clone)]
pub struct Db {
    map: IndexMap<Key, Entry, FastHasher>,
    volatile: IndexSet<Key, FastHasher>,
}

impl Db {
    /// Number of keys, including logically expired ones not yet removed.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when the database holds no keys.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Number of keys with a TTL.
    pub fn volatile_len(&self) -> usize {
        self.volatile.len()
    }

    /// The entry for `key`, expired or not.
    pub fn get(&self, key: &[u8]) -> Option<&Entry> {
        self.map.get(key)
    }

    /// The entry for `key`, expired or not, mutably.
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut Entry> {
        self.map.get_mut(key)
    }

    /// Index of `key` in iteration order.
    pub fn index_of(&self, key: &[u8]) -> Option<usize> {
        self.map.get_index_of(key)
    }

    /// The key and entry at index `i`.
    pub fn get_index(&self, i: usize) -> Option<(&Key, &Entry)> {
        self.map.get_index(i)
    }

    /// The `i`-th key with a TTL.
    pub fn volatile_key(&self, i: usize) -> Option<&Key> {
        self.volatile.get_index(i)
    }

    /// Inserts or replaces `key`, keeping the given TTL (0 = none) and access.
    pub fn insert(&mut self, key: &[u8], value: Value, expire_at: u64, access: u32) {
        let k = Key::from_slice(key);
        if expire_at != 0 {
            self.volatile.insert(k.clone());
        } else {
            self.volatile.swap_remove(key);
        }
        self.map.insert(k, Entry { value, expire_at, access });
    }

    /// Removes `key`, returning its entry.
    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let e = self.map.swap_remove(key)?;
        if e.expire_at != 0 {
            self.volatile.swap_remove(key);
        }
        Some(e)
    }

    /// Sets (or clears, with 0) the TTL of an existing key. False if absent.
    pub fn set_expire(&mut self, key: &[u8], expire_at: u64) -> bool {
        let Some(e) = self.map.get_mut(key) else { return false };
        let had = e.expire_at != 0;
        e.expire_at = expire_at;
        match (had, expire_at != 0) {
            (false, true) => {
                self.volatile.insert(Key::from_slice(key));
            }
            (true, false) => {
                self.volatile.swap_remove(key);
            }
            _ => {}
        }
        true
    }

    /// Removes every key.
    pub fn clear(&mut self) {
        self.map = IndexMap::default();
        self.volatile = IndexSet::default();
    }

    /// Iterates over all keys and entries (expired ones included).
    pub fn iter(&self) -> impl Iterator<Item = (&Key, &Entry)> {
        self.map.iter()
    }

    /// Visits up to `count` entries from `cursor` (0 starts), walking indices
    /// downward; returns the next cursor (0 when done).
    pub fn scan(&self, cursor: u64, count: usize, mut visit: impl FnMut(&Key, &Entry)) -> u64 {
        let len = self.map.len();
        let mut i = if cursor == 0 { len } else { (cursor as usize).min(len) };
        let mut n = 0;
        while i > 0 && n < count {
            i -= 1;
            if let Some((k, e)) = self.map.get_index(i) {
                visit(k, e);
            }
            n += 1;
        }
        i as u64
    }

    /// Reserves room for `additional` more keys (bulk loads).
    pub fn reserve(&mut self, additional: usize) {
        self.map.reserve(additional);
    }

    /// Approximate bytes of the table structures (not values).
    pub fn table_overhead(&self) -> usize {
        self.map.capacity() * (std::mem::size_of::<(Key, Entry)>() + 8 + 9)
            + self.volatile.capacity() * (std::mem::size_of::<Key>() + 8 + 9)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db_with(n: usize) -> Db {
        let mut db = Db::default();
        for i in 0..n {
            db.insert(format!("k{i}").as_bytes(), Value::str(b"v"), 0, 0);
        }
        db
    }

    #[test]
    fn scan_visits_all_keys_present_throughout_despite_deletes() {
        let mut db = db_with(100);
        let mut seen = std::collections::HashSet::new();
        let mut cursor = 0;
        let mut round = 0;
        loop {
            cursor = db.scan(cursor, 7, |k, _| {
                seen.insert(k.to_vec());
            });
            // Delete some keys mid-scan (never k0..k49, which must all be seen).
            for j in 0..3 {
                db.remove(format!("k{}", 50 + round * 3 + j).as_bytes());
            }
            round += 1;
            if cursor == 0 {
                break;
            }
        }
        for i in 0..50 {
            assert!(seen.contains(format!("k{i}").as_bytes()), "k{i} missed");
        }
    }

    #[test]
    fn volatile_tracks_ttls() {
        let mut db = db_with(3);
        assert!(db.set_expire(b"k1", 100));
        assert_eq!(db.volatile_len(), 1);
        db.insert(b"k1", Value::str(b"x"), 0, 0);
        assert_eq!(db.volatile_len(), 0);
        db.set_expire(b"k2", 5);
        db.remove(b"k2");
        assert_eq!(db.volatile_len(), 0);
    }
}
