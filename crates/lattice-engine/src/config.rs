//! Engine settings: the Redis directives that change command semantics or
//! encodings. The server owns parsing and `CONFIG SET`; it hands the engine a
//! copy whenever they change.

/// `maxmemory-policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EvictionPolicy {
    /// Refuse writes that need memory.
    #[default]
    NoEviction,
    /// Least recently used among all keys.
    AllKeysLru,
    /// Least frequently used among all keys.
    AllKeysLfu,
    /// Random among all keys.
    AllKeysRandom,
    /// Least recently used among keys with a TTL.
    VolatileLru,
    /// Least frequently used among keys with a TTL.
    VolatileLfu,
    /// Random among keys with a TTL.
    VolatileRandom,
    /// Nearest expiry among keys with a TTL.
    VolatileTtl,
}

impl EvictionPolicy {
    /// Parses the directive value (case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_lowercase().as_str() {
            "noeviction" => Self::NoEviction,
            "allkeys-lru" => Self::AllKeysLru,
            "allkeys-lfu" => Self::AllKeysLfu,
            "allkeys-random" => Self::AllKeysRandom,
            "volatile-lru" => Self::VolatileLru,
            "volatile-lfu" => Self::VolatileLfu,
            "volatile-random" => Self::VolatileRandom,
            "volatile-ttl" => Self::VolatileTtl,
            _ => return None,
        })
    }

    /// The directive text.
    pub fn name(self) -> &'static str {
        match self {
            Self::NoEviction => "noeviction",
            Self::AllKeysLru => "allkeys-lru",
            Self::AllKeysLfu => "allkeys-lfu",
            Self::AllKeysRandom => "allkeys-random",
            Self::VolatileLru => "volatile-lru",
            Self::VolatileLfu => "volatile-lfu",
            Self::VolatileRandom => "volatile-random",
            Self::VolatileTtl => "volatile-ttl",
        }
    }

    /// Whether the policy ranks keys by access frequency (LFU counters are kept).
    pub fn is_lfu(self) -> bool {
        matches!(self, Self::AllKeysLfu | Self::VolatileLfu)
    }
}

/// Settings that affect command semantics and encodings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// `databases`
    pub databases: usize,
    /// `proto-max-bulk-len`: the largest string a command may build.
    pub proto_max_bulk_len: usize,
    /// `maxmemory-policy`
    pub maxmemory_policy: EvictionPolicy,
    /// `maxmemory-samples`
    pub maxmemory_samples: usize,
    /// `lfu-log-factor`
    pub lfu_log_factor: u32,
    /// `lfu-decay-time` (minutes)
    pub lfu_decay_time: u32,
    /// `hash-max-listpack-entries`
    pub hash_max_listpack_entries: usize,
    /// `hash-max-listpack-value`
    pub hash_max_listpack_value: usize,
    /// `set-max-intset-entries`
    pub set_max_intset_entries: usize,
    /// `set-max-listpack-entries`
    pub set_max_listpack_entries: usize,
    /// `set-max-listpack-value`
    pub set_max_listpack_value: usize,
    /// `zset-max-listpack-entries`
    pub zset_max_listpack_entries: usize,
    /// `zset-max-listpack-value`
    pub zset_max_listpack_value: usize,
    /// `list-max-listpack-size` (negative: a byte limit class, as Redis)
    pub list_max_listpack_size: i64,
    /// `active-expire-enabled` (`DEBUG SET-ACTIVE-EXPIRE`)
    pub active_expire_enabled: bool,
    /// Emit `new` notifications (class `n`) when a key is added. Off unless
    /// `notify-keyspace-events` asks for them: they would cost a key copy
    /// on every key creation for nobody.
    pub notify_new: bool,
    /// Emit `keymiss` notifications (class `m`) when a read finds no key;
    /// off unless asked for, as `notify_new`.
    pub notify_keymiss: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            databases: 16,
            proto_max_bulk_len: 512 * 1024 * 1024,
            maxmemory_policy: EvictionPolicy::NoEviction,
            maxmemory_samples: 5,
            lfu_log_factor: 10,
            lfu_decay_time: 1,
            hash_max_listpack_entries: 512,
            hash_max_listpack_value: 64,
            set_max_intset_entries: 512,
            set_max_listpack_entries: 128,
            set_max_listpack_value: 64,
            zset_max_listpack_entries: 128,
            zset_max_listpack_value: 64,
            list_max_listpack_size: -2,
            active_expire_enabled: true,
            notify_new: false,
            notify_keymiss: false,
        }
    }
}
