//! #[PerformanceCriticalPath]
//! `Exec`: what a command handler sees while it runs — the databases, the
//! time and the seeded RNG of this call, and the effects it emits.
//!
//! Expired keys: while applying a write (`writing`), a key whose TTL has passed
//! at the call's time is deleted on access (the time comes from the log entry,
//! so every replica deletes the same keys). A read only hides it.

use bytes::Bytes;
use rand::rngs::SmallRng;

use crate::access;
use crate::config::EngineConfig;
use crate::effect::{Effect, EventClass};
use crate::keyspace::{Db, Entry};
use crate::types::{hash::HashValue, list::ListValue, set::SetValue, zset::ZSetValue};
use crate::value::{StrValue, Value};
use crate::{CmdError, Stats};

/// The context of one command execution.
pub struct Exec<'a> {
    pub(crate) dbs: &'a mut [Db],
    /// Settings in force.
    pub config: &'a EngineConfig,
    /// Counters (`INFO stats`).
    pub stats: &'a mut Stats,
    /// The selected database.
    pub db: usize,
    /// The time of this call (a write: the log entry's time), Unix ms.
    pub now_ms: u64,
    /// Randomness of this call, seeded from the log entry for writes.
    pub rng: SmallRng,
    /// Effects emitted so far.
    pub effects: Vec<Effect>,
    /// Whether a blocking command may return `Reply::WouldBlock`.
    pub allow_block: bool,
    /// True while applying a write (expired keys are deleted on access).
    pub writing: bool,
}

/// Counts a read that found no key and notifies `keymiss` (fields apart,
/// so callers may hold a borrow of the databases).
fn missed(
    stats: &mut Stats,
    config: &EngineConfig,
    effects: &mut Vec<Effect>,
    db: usize,
    key: &[u8],
) {
    stats.keyspace_misses += 1;
    if config.notify_keymiss {
        effects.push(Effect::Notify {
            class: EventClass::KeyMiss,
            event: "keymiss",
            db,
            key: Bytes::copy_from_slice(key),
        });
    }
}

macro_rules! typed_access {
    ($read:ident, $write:ident, $create:ident, $variant:ident, $ty:ty) => {
        /// Reads the key as this type: `Ok(None)` if absent, `WrongType` if
        /// it holds another type.
        pub fn $read(&mut self, key: &[u8]) -> Result<Option<&$ty>, CmdError> {
            match self.lookup_read(key) {
                None => Ok(None),
                Some(Entry {
                    value: Value::$variant(v),
                    ..
                }) => Ok(Some(&**v)),
                Some(_) => Err(CmdError::WrongType),
            }
        }

        /// Gets the key as this type for modification: `Ok(None)` if absent.
        pub fn $write(&mut self, key: &[u8]) -> Result<Option<&mut $ty>, CmdError> {
            match self.lookup_write(key) {
                None => Ok(None),
                Some(Entry {
                    value: Value::$variant(v),
                    ..
                }) => Ok(Some(&mut **v)),
                Some(_) => Err(CmdError::WrongType),
            }
        }

        /// Gets the key as this type for modification, creating an empty
        /// value if absent.
        pub fn $create(&mut self, key: &[u8]) -> Result<&mut $ty, CmdError> {
            if self.lookup_write(key).is_none() {
                let access = access::initial_access(self.now_ms, self.config);
                self.db_mut()
                    .insert(key, Value::$variant(Box::default()), 0, access);
                self.key_added(key);
            }
            match self.db_mut().get_mut(key) {
                Some(Entry {
                    value: Value::$variant(v),
                    ..
                }) => Ok(&mut **v),
                _ => Err(CmdError::WrongType),
            }
        }
    };
}

impl<'a> Exec<'a> {
    /// The selected database.
    #[allow(clippy::indexing_slicing)]
    pub fn db_mut(&mut self) -> &mut Db {
        // `Engine::new` guarantees at least one database and SELECT bounds
        // `db`; an out-of-range index falls back to database 0.
        let i = if self.db < self.dbs.len() { self.db } else { 0 };
        &mut self.dbs[i]
    }

    /// Database `i`, if it exists.
    pub fn db_at(&mut self, i: usize) -> Option<&mut Db> {
        self.dbs.get_mut(i)
    }

    /// Number of databases.
    pub fn db_count(&self) -> usize {
        self.dbs.len()
    }

    /// Handles an expired key: deletes it when writing. Returns true if the
    /// key is (logically) gone.
    fn expire_if_needed(&mut self, key: &[u8]) -> bool {
        let now = self.now_ms;
        let expired = self.db_mut().get(key).is_some_and(|e| e.is_expired(now));
        if expired && self.writing {
            self.delete_expired(key);
        }
        expired
    }

    /// Deletes an expired key, counting and notifying as Redis does.
    pub fn delete_expired(&mut self, key: &[u8]) {
        if self.db_mut().remove(key).is_some() {
            self.stats.expired_keys += 1;
            self.notify(EventClass::Expired, "expired", key);
            self.modified(key);
        }
    }

    /// Looks a key up for reading: counts a hit or miss (a miss notifies
    /// `keymiss`, as Redis's `lookupKeyRead`), hides expired keys, updates
    /// LRU/LFU.
    pub fn lookup_read(&mut self, key: &[u8]) -> Option<&mut Entry> {
        if self.expire_if_needed(key) {
            missed(self.stats, self.config, &mut self.effects, self.db, key);
            return None;
        }
        let now = self.now_ms;
        let cfg = self.config;
        let i = self.db;
        let len = self.dbs.len();
        let db = self.dbs.get_mut(i.min(len.saturating_sub(1)))?;
        match db.get_mut(key) {
            Some(e) => {
                self.stats.keyspace_hits += 1;
                e.access = access::touched(e.access, now, cfg, &mut self.rng);
                Some(e)
            }
            None => {
                missed(self.stats, self.config, &mut self.effects, i, key);
                None
            }
        }
    }

    /// Notifies `new` for a key just added to the selected database (Redis's
    /// `dbAdd`), before the command's own event.
    pub fn key_added(&mut self, key: &[u8]) {
        if self.config.notify_new {
            self.notify(EventClass::New, "new", key);
        }
    }

    /// Looks a key up for writing: expired keys are gone; updates LRU/LFU.
    pub fn lookup_write(&mut self, key: &[u8]) -> Option<&mut Entry> {
        if self.expire_if_needed(key) {
            return None;
        }
        let now = self.now_ms;
        let cfg = self.config;
        let i = self.db;
        let len = self.dbs.len();
        let db = self.dbs.get_mut(i.min(len.saturating_sub(1)))?;
        let e = db.get_mut(key)?;
        e.access = access::touched(e.access, now, cfg, &mut self.rng);
        Some(e)
    }

    /// Whether the key exists (not expired), without touching stats.
    pub fn exists(&mut self, key: &[u8]) -> bool {
        !self.expire_if_needed(key) && self.db_mut().get(key).is_some()
    }

    /// Reads a string key.
    pub fn read_str(&mut self, key: &[u8]) -> Result<Option<&StrValue>, CmdError> {
        match self.lookup_read(key) {
            None => Ok(None),
            Some(Entry {
                value: Value::Str(s),
                ..
            }) => Ok(Some(&*s)),
            Some(_) => Err(CmdError::WrongType),
        }
    }

    /// Gets a string key for modification.
    pub fn write_str(&mut self, key: &[u8]) -> Result<Option<&mut StrValue>, CmdError> {
        match self.lookup_write(key) {
            None => Ok(None),
            Some(Entry {
                value: Value::Str(s),
                ..
            }) => Ok(Some(s)),
            Some(_) => Err(CmdError::WrongType),
        }
    }

    typed_access!(read_list, write_list, list_or_create, List, ListValue);
    typed_access!(read_hash, write_hash, hash_or_create, Hash, HashValue);
    typed_access!(read_set, write_set, set_or_create, Set, SetValue);
    typed_access!(read_zset, write_zset, zset_or_create, ZSet, ZSetValue);

    /// Stores `value` at `key` as Redis's `setKey`: replaces any value; the TTL
    /// is cleared unless `keep_ttl`. Emits `Modified`.
    pub fn set_key(&mut self, key: &[u8], value: Value, keep_ttl: bool) {
        let now = self.now_ms;
        let access = access::initial_access(now, self.config);
        let old_ttl = if keep_ttl {
            self.lookup_write(key).map_or(0, |e| e.expire_at)
        } else {
            self.expire_if_needed(key);
            0
        };
        if self.db_mut().insert(key, value, old_ttl, access) {
            self.key_added(key);
        }
        self.modified(key);
    }

    /// Deletes a key; true if it existed (and was not expired).
    pub fn delete(&mut self, key: &[u8]) -> bool {
        if self.expire_if_needed(key) {
            return false;
        }
        let gone = self.db_mut().remove(key).is_some();
        if gone {
            self.modified(key);
        }
        gone
    }

    /// Removes `key` if it holds an empty aggregate, notifying `del` as Redis
    /// does when a pop or remove empties a collection.
    pub fn delete_if_empty(&mut self, key: &[u8]) {
        let empty = match self.db_mut().get(key).map(|e| &e.value) {
            Some(Value::List(l)) => l.is_empty(),
            Some(Value::Hash(h)) => h.is_empty(),
            Some(Value::Set(s)) => s.is_empty(),
            Some(Value::ZSet(z)) => z.is_empty(),
            _ => false,
        };
        if empty {
            self.db_mut().remove(key);
            self.notify(EventClass::Generic, "del", key);
        }
    }

    /// Emits a keyspace notification for the selected database.
    pub fn notify(&mut self, class: EventClass, event: &'static str, key: &[u8]) {
        let db = self.db;
        self.effects.push(Effect::Notify {
            class,
            event,
            db,
            key: Bytes::copy_from_slice(key),
        });
    }

    /// Marks a key modified (WATCH, tracking) and counts one change.
    pub fn modified(&mut self, key: &[u8]) {
        self.stats.dirty += 1;
        let db = self.db;
        self.effects.push(Effect::Modified {
            db,
            key: Bytes::copy_from_slice(key),
        });
    }

    /// Signals that a blocking-capable key received data.
    pub fn key_ready(&mut self, key: &[u8]) {
        let db = self.db;
        self.effects.push(Effect::KeyReady {
            db,
            key: Bytes::copy_from_slice(key),
        });
    }

    /// Checks a string length against `proto-max-bulk-len`.
    pub fn check_len(&self, len: usize) -> Result<(), CmdError> {
        if len > self.config.proto_max_bulk_len {
            Err(CmdError::StringTooLong)
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::test_replies::{argv, events};
    use crate::{Engine, EngineConfig, Outcome};

    fn engine(notify: bool) -> Engine {
        Engine::new(EngineConfig {
            notify_new: notify,
            notify_keymiss: notify,
            ..Default::default()
        })
    }

    fn call(e: &mut Engine, now: u64, parts: &[&str]) -> Outcome {
        e.call(0, argv(parts), now, 1, false)
    }

    #[test]
    fn new_comes_first_and_only_for_keys_that_were_absent() {
        let mut e = engine(true);
        assert_eq!(events(&call(&mut e, 1, &["SET", "k", "v"])), ["new", "set"]);
        assert_eq!(events(&call(&mut e, 1, &["SET", "k", "w"])), ["set"]);
        assert_eq!(
            events(&call(&mut e, 1, &["LPUSH", "l", "a"])),
            ["new", "lpush"]
        );
        assert_eq!(events(&call(&mut e, 1, &["RPUSH", "l", "b"])), ["rpush"]);
        assert_eq!(
            events(&call(&mut e, 1, &["RENAME", "l", "m"])),
            ["new", "rename_from", "rename_to"]
        );
        assert_eq!(
            events(&call(&mut e, 1, &["COPY", "k", "c"])),
            ["new", "copy_to"]
        );
        assert_eq!(
            events(&call(&mut e, 1, &["MOVE", "c", "1"])),
            ["new", "move_from", "move_to"]
        );
        // An expired key is deleted, then added again.
        call(&mut e, 1000, &["PSETEX", "t", "10", "v"]);
        assert_eq!(
            events(&call(&mut e, 2000, &["SET", "t", "v"])),
            ["expired", "new", "set"]
        );
        // Off unless the server asks for it.
        let mut quiet = engine(false);
        assert_eq!(events(&call(&mut quiet, 1, &["SET", "k", "v"])), ["set"]);
    }

    #[test]
    fn keymiss_for_each_key_a_read_does_not_find() {
        let mut e = engine(true);
        call(&mut e, 1, &["SET", "k", "v"]);
        assert_eq!(events(&call(&mut e, 1, &["GET", "nope"])), ["keymiss"]);
        assert!(events(&call(&mut e, 1, &["GET", "k"])).is_empty());
        let out = call(&mut e, 1, &["MGET", "a", "k", "b"]);
        let missed: Vec<_> = out
            .effects
            .iter()
            .filter_map(|f| match f {
                crate::Effect::Notify { event, key, .. } => Some((*event, key.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(missed, [("keymiss", "a".into()), ("keymiss", "b".into())]);
        // A key hidden by its TTL is a miss too.
        call(&mut e, 1000, &["PSETEX", "t", "10", "v"]);
        assert_eq!(
            events(&e.call(0, argv(&["GET", "t"]), 2000, 1, false)),
            ["keymiss"]
        );
        // Writes look keys up for writing: no keymiss.
        assert_eq!(events(&call(&mut e, 1, &["INCR", "n"])), ["new", "incrby"]);
        let mut quiet = engine(false);
        assert!(events(&call(&mut quiet, 1, &["GET", "nope"])).is_empty());
    }
}
