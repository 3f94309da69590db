//! Effects: what an applied write asks the server layer to do afterwards.
//! They are data, so the same apply produces the same effects on every
//! replica and tests can assert on them.

use bytes::Bytes;

/// Keyspace-notification classes (the letters of `notify-keyspace-events`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventClass {
    /// `g`: generic commands (DEL, EXPIRE, RENAME …)
    Generic,
    /// `$`: string commands
    String,
    /// `l`: list commands
    List,
    /// `s`: set commands
    Set,
    /// `h`: hash commands
    Hash,
    /// `z`: sorted-set commands
    ZSet,
    /// `x`: expired events
    Expired,
    /// `e`: evicted events
    Evicted,
    /// `n`: new key events
    New,
    /// `m`: key-miss events (a read found no key)
    KeyMiss,
}

impl EventClass {
    /// The `notify-keyspace-events` flag letter of this class.
    pub fn flag(self) -> char {
        match self {
            EventClass::Generic => 'g',
            EventClass::String => '$',
            EventClass::List => 'l',
            EventClass::Set => 's',
            EventClass::Hash => 'h',
            EventClass::ZSet => 'z',
            EventClass::Expired => 'x',
            EventClass::Evicted => 'e',
            EventClass::New => 'n',
            EventClass::KeyMiss => 'm',
        }
    }
}

/// One effect of an applied write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// A keyspace notification (`__keyspace@db__:key` / `__keyevent@db__:event`).
    Notify {
        /// Notification class.
        class: EventClass,
        /// Event name (`set`, `del`, `expired` …).
        event: &'static str,
        /// Database number.
        db: usize,
        /// The key.
        key: Bytes,
    },
    /// A key was modified: invalidates WATCH and client-side caches.
    Modified {
        /// Database number.
        db: usize,
        /// The key.
        key: Bytes,
    },
    /// A whole database (or all, with `None`) was flushed.
    Flushed {
        /// The database, or all of them.
        db: Option<usize>,
    },
    /// A list, sorted set or stream at `key` received elements: clients
    /// blocked on it may be served now.
    KeyReady {
        /// Database number.
        db: usize,
        /// The key.
        key: Bytes,
    },
}
