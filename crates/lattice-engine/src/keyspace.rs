//! #[PerformanceCriticalPath]
//! One database's keyspace: a dense vector of (key, entry) slots plus a hash
//! index of `u32` positions into it (`KeyTable`).
//!
//! Why this shape: the slot order depends only on the sequence of inserts and
//! removals (never on the hasher's seed), so a random pick — `RANDOMKEY`, an
//! eviction sample — made with the entry's seeded RNG chooses the same key on
//! every replica. It gives O(1) access by position, which makes sampling and
//! `SCAN` cheap. `SCAN` walks positions downward: a removal moves the last
//! (already visited) slot into the hole, so an element present for the whole
//! scan is never missed — Redis's guarantee.
//!
//! Why not `IndexMap`, which has the same design: it stores each key's hash
//! (8 bytes) and grows its slot vector to the index table's capacity, which
//! cost 166 bytes per key for 1M small keys against Redis's 105. Here the
//! index holds 4-byte positions, hashes are recomputed when the index grows,
//! and the slot vector grows by plain doubling.
//!
//! Keys with a TTL are also listed in `volatile`, so active expiry and the
//! `volatile-*` eviction policies sample only them.

use std::hash::BuildHasher;

use hashbrown::HashTable;
use indexmap::IndexSet;
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

/// Keys and entries in a dense, operation-ordered vector with a hash index.
#[derive(Clone, Default)]
struct KeyTable {
    index: HashTable<u32>,
    slots: Vec<(Key, Entry)>,
    hasher: FastHasher,
}

impl std::fmt::Debug for KeyTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyTable")
            .field("len", &self.slots.len())
            .finish()
    }
}

impl KeyTable {
    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    fn position(&self, key: &[u8]) -> Option<usize> {
        let slots = &self.slots;
        self.index
            .find(self.hash(key), |&i| {
                slots
                    .get(i as usize)
                    .is_some_and(|(k, _)| k.as_slice() == key)
            })
            .map(|&i| i as usize)
    }

    fn get(&self, key: &[u8]) -> Option<&Entry> {
        self.position(key)
            .and_then(|i| self.slots.get(i))
            .map(|(_, e)| e)
    }

    fn get_mut(&mut self, key: &[u8]) -> Option<&mut Entry> {
        let i = self.position(key)?;
        self.slots.get_mut(i).map(|(_, e)| e)
    }

    /// Inserts or replaces; true if the key is new.
    fn insert(&mut self, key: Key, entry: Entry) -> bool {
        // One hash for both the lookup and, for a new key, the insert.
        let h = self.hash(&key);
        let slots = &self.slots;
        let found = self
            .index
            .find(h, |&i| {
                slots.get(i as usize).is_some_and(|(k, _)| *k == key)
            })
            .map(|&i| i as usize);
        if let Some((_, e)) = found.and_then(|i| self.slots.get_mut(i)) {
            *e = entry;
            return false;
        }
        let pos = self.slots.len() as u32;
        self.push_slot((key, entry));
        let (slots, hasher) = (&self.slots, &self.hasher);
        self.index.insert_unique(h, pos, |&i| {
            slots
                .get(i as usize)
                .map_or(0, |(k, _)| hasher.hash_one(k.as_slice()))
        });
        true
    }

    /// Inserts `key` if absent; false, changing nothing, if present.
    fn insert_new(&mut self, key: &[u8], entry: Entry) -> bool {
        let h = self.hash(key);
        let slots = &self.slots;
        let present = self
            .index
            .find(h, |&i| {
                slots
                    .get(i as usize)
                    .is_some_and(|(k, _)| k.as_slice() == key)
            })
            .is_some();
        if present {
            return false;
        }
        let pos = self.slots.len() as u32;
        self.push_slot((Key::from_slice(key), entry));
        let (slots, hasher) = (&self.slots, &self.hasher);
        self.index.insert_unique(h, pos, |&i| {
            slots
                .get(i as usize)
                .map_or(0, |(k, _)| hasher.hash_one(k.as_slice()))
        });
        true
    }

    fn swap_remove(&mut self, key: &[u8]) -> Option<Entry> {
        let h = self.hash(key);
        let slots = &self.slots;
        let found = self
            .index
            .find_entry(h, |&i| {
                slots
                    .get(i as usize)
                    .is_some_and(|(k, _)| k.as_slice() == key)
            })
            .ok()?;
        let (pos, _) = found.remove();
        let pos = pos as usize;
        let last = self.slots.len().checked_sub(1)?;
        let (_, entry) = self.slots.swap_remove(pos);
        if pos != last {
            // The former last slot now lives at `pos`: repoint its index entry.
            let moved = self
                .slots
                .get(pos)
                .map_or(0, |(k, _)| self.hasher.hash_one(k.as_slice()));
            if let Some(p) = self.index.find_mut(moved, |&i| i as usize == last) {
                *p = pos as u32;
            }
        }
        Some(entry)
    }

    /// Appends a slot. A large table grows by a quarter, not by doubling:
    /// one key past a million would otherwise double the slot vector
    /// (tens of MB) for a single insert; the copies stay amortised O(1).
    fn push_slot(&mut self, slot: (Key, Entry)) {
        let cap = self.slots.capacity();
        if self.slots.len() == cap && cap >= 4096 {
            self.slots.reserve_exact(cap / 4);
        }
        self.slots.push(slot);
    }

    fn reserve(&mut self, additional: usize) {
        self.slots.reserve(additional);
        let (slots, hasher) = (&self.slots, &self.hasher);
        self.index.reserve(additional, |&i| {
            slots
                .get(i as usize)
                .map_or(0, |(k, _)| hasher.hash_one(k.as_slice()))
        });
    }
}

/// A database: keys, and the subset of keys with a TTL.
#[derive(Debug, Default, Clone)]
pub struct Db {
    map: KeyTable,
    volatile: IndexSet<Key, FastHasher>,
}

impl Db {
    /// Number of keys, including logically expired ones not yet removed.
    pub fn len(&self) -> usize {
        self.map.slots.len()
    }

    /// True when the database holds no keys.
    pub fn is_empty(&self) -> bool {
        self.map.slots.is_empty()
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
        self.map.position(key)
    }

    /// The key and entry at index `i`.
    pub fn get_index(&self, i: usize) -> Option<(&Key, &Entry)> {
        self.map.slots.get(i).map(|(k, e)| (k, e))
    }

    /// The `i`-th key with a TTL.
    pub fn volatile_key(&self, i: usize) -> Option<&Key> {
        self.volatile.get_index(i)
    }

    /// Inserts or replaces `key`, keeping the given TTL (0 = none) and access;
    /// true if the key was not there before.
    pub fn insert(&mut self, key: &[u8], value: Value, expire_at: u64, access: u32) -> bool {
        let k = Key::from_slice(key);
        if expire_at != 0 {
            self.volatile.insert(k.clone());
        } else if !self.volatile.is_empty() {
            self.volatile.swap_remove(key);
        }
        self.map.insert(
            k,
            Entry {
                value,
                expire_at,
                access,
            },
        )
    }

    /// Inserts `key` unless it exists (snapshot loading, one lookup); false,
    /// changing nothing, if it does.
    pub(crate) fn insert_new(
        &mut self,
        key: &[u8],
        value: Value,
        expire_at: u64,
        access: u32,
    ) -> bool {
        let entry = Entry {
            value,
            expire_at,
            access,
        };
        if !self.map.insert_new(key, entry) {
            return false;
        }
        if expire_at != 0 {
            self.volatile.insert(Key::from_slice(key));
        }
        true
    }

    /// Removes `key`, returning its entry.
    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let e = self.map.swap_remove(key)?;
        if e.expire_at != 0 && !self.volatile.is_empty() {
            self.volatile.swap_remove(key);
        }
        Some(e)
    }

    /// Sets (or clears, with 0) the TTL of an existing key. False if absent.
    pub fn set_expire(&mut self, key: &[u8], expire_at: u64) -> bool {
        let Some(e) = self.map.get_mut(key) else {
            return false;
        };
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
        self.map = KeyTable::default();
        self.volatile = IndexSet::default();
    }

    /// All keys and entries in slot order (expired ones included): what a
    /// snapshot copies, so that a loaded database has the same order.
    pub(crate) fn slots(&self) -> &[(Key, Entry)] {
        &self.map.slots
    }

    /// Iterates over all keys and entries (expired ones included).
    pub fn iter(&self) -> impl Iterator<Item = (&Key, &Entry)> {
        self.map.slots.iter().map(|(k, e)| (k, e))
    }

    /// Visits up to `count` entries from `cursor` (0 starts), walking indices
    /// downward; returns the next cursor (0 when done).
    pub fn scan(&self, cursor: u64, count: usize, mut visit: impl FnMut(&Key, &Entry)) -> u64 {
        let len = self.map.slots.len();
        let mut i = if cursor == 0 {
            len
        } else {
            (cursor as usize).min(len)
        };
        let mut n = 0;
        while i > 0 && n < count {
            i -= 1;
            if let Some((k, e)) = self.map.slots.get(i) {
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
        self.map.slots.capacity() * std::mem::size_of::<(Key, Entry)>()
            + self.map.index.capacity() * 5
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
    fn key_table_matches_a_hashmap_under_random_inserts_and_removes() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
        let mut db = Db::default();
        let mut model = std::collections::HashMap::new();
        for step in 0..20_000u32 {
            let k = format!("key:{}", rng.gen_range(0..500));
            if rng.gen_bool(0.6) {
                db.insert(k.as_bytes(), Value::str(&step.to_le_bytes()), 0, 0);
                model.insert(k, step);
            } else {
                assert_eq!(
                    db.remove(k.as_bytes()).is_some(),
                    model.remove(&k).is_some()
                );
            }
        }
        assert_eq!(db.len(), model.len());
        for (k, v) in &model {
            let Some(Entry {
                value: Value::Str(s),
                ..
            }) = db.get(k.as_bytes())
            else {
                panic!("{k} missing")
            };
            assert_eq!(&s[..], &v.to_le_bytes()[..]);
            let i = db.index_of(k.as_bytes()).unwrap();
            assert_eq!(db.get_index(i).unwrap().0.as_slice(), k.as_bytes());
        }
    }

    #[test]
    fn slots_stay_small() {
        // The memory target depends on this: see the module docs.
        assert!(
            std::mem::size_of::<(Key, Entry)>() <= 72,
            "{}",
            std::mem::size_of::<(Key, Entry)>()
        );
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
