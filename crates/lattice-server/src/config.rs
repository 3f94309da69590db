//! Server configuration: Redis's directives, their defaults, parsing from a
//! `redis.conf`-style file and `--directive value` arguments, and the rules
//! for `CONFIG GET`/`CONFIG SET`. One table (`DIRECTIVES`) drives all of it.

use std::path::PathBuf;

use lattice_engine::{EngineConfig, EvictionPolicy};
use thiserror::Error;

/// A configuration error; the text names the directive.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    /// A directive Lattice does not know.
    #[error("unknown directive '{0}'")]
    Unknown(String),
    /// A directive with a bad value or argument count.
    #[error("invalid value for '{name}': {reason}")]
    Invalid {
        /// The directive.
        name: String,
        /// Why.
        reason: String,
    },
    /// A directive that can only be set at start-up.
    #[error("'{0}' can only be set at start-up")]
    Immutable(String),
    /// The config file could not be read.
    #[error("cannot read config file {path}: {reason}")]
    File {
        /// Path.
        path: String,
        /// Why.
        reason: String,
    },
}

/// `client-output-buffer-limit` for one class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutputLimit {
    /// Hard limit in bytes (0 = none).
    pub hard: u64,
    /// Soft limit in bytes (0 = none).
    pub soft: u64,
    /// Seconds over the soft limit before disconnecting.
    pub soft_seconds: u64,
}

/// `enable-debug-command`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DebugPolicy {
    /// Never.
    No,
    /// Always.
    Yes,
    /// From loopback clients only.
    Local,
}

/// The server's configuration.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// `port`
    pub port: u16,
    /// `bind` addresses
    pub bind: Vec<String>,
    /// `requirepass` (empty: none)
    pub requirepass: String,
    /// `protected-mode`
    pub protected_mode: bool,
    /// `maxmemory` bytes (0: no limit)
    pub maxmemory: u64,
    /// `dir`: where the log and snapshots live.
    pub dir: PathBuf,
    /// `appendonly`: writes go to the on-disk log (no: the log is kept in
    /// memory only, for pure caches).
    pub appendonly: bool,
    /// `appendfsync`: when log appends are fsynced.
    pub appendfsync: lattice_storage::FsyncPolicy,
    /// `debug-log-faults`: wrap the log's files in the fault-injecting
    /// backend so `DEBUG LOG-FAULT` can simulate fsync errors and a full
    /// disk (tests; start-up only).
    pub debug_log_faults: bool,
    /// `auto-aof-rewrite-percentage`: snapshot (and compact the log) when it
    /// grew by this percentage of the last snapshot's size (0: never).
    pub auto_snapshot_percentage: u64,
    /// `auto-aof-rewrite-min-size`: ... and is at least this many bytes.
    pub auto_snapshot_min_size: u64,
    /// `timeout` seconds (0: never)
    pub timeout: u64,
    /// `tcp-keepalive` seconds (0: off)
    pub tcp_keepalive: u64,
    /// `loglevel`
    pub loglevel: String,
    /// `logfile` (empty: stdout)
    pub logfile: String,
    /// `maxclients`
    pub maxclients: u64,
    /// `client-query-buffer-limit`
    pub client_query_buffer_limit: u64,
    /// `client-output-buffer-limit` normal / pubsub / replica
    pub output_limits: [OutputLimit; 3],
    /// `hz`
    pub hz: u64,
    /// `busy-reply-threshold` (alias `lua-time-limit`) in milliseconds: a
    /// script running longer makes other clients get `-BUSY`.
    pub busy_reply_threshold_ms: u64,
    /// `io-threads`: runtime worker threads for connection I/O (start-up
    /// only). Commands run one at a time on the engine either way; more
    /// threads parallelise parsing and encoding. Redis's default is 1, and
    /// on small machines one thread avoids lock contention and wake-ups.
    pub io_threads: usize,
    /// `notify-keyspace-events` flag bits (`crate::pubsub::notify`).
    pub notify_keyspace_events: u32,
    /// `tracking-table-max-keys`: keys client-side caching remembers at
    /// most (0: no limit).
    pub tracking_table_max_keys: u64,
    /// `enable-debug-command`
    pub enable_debug_command: DebugPolicy,
    /// `lazyfree-lazy-user-del` etc. are accepted for compatibility.
    pub compat: Vec<(String, String)>,
    /// Settings the engine uses.
    pub engine: EngineConfig,
    /// The file this configuration was read from (CONFIG REWRITE).
    pub file: Option<PathBuf>,
    /// Slow log, latency monitor and metrics endpoint settings.
    pub observe: crate::observe::ObserveConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            port: 6379,
            bind: vec!["127.0.0.1".into(), "-::1".into()],
            requirepass: String::new(),
            protected_mode: true,
            maxmemory: 0,
            dir: PathBuf::from("."),
            appendonly: true,
            appendfsync: lattice_storage::FsyncPolicy::Always,
            debug_log_faults: false,
            auto_snapshot_percentage: 100,
            auto_snapshot_min_size: 64 << 20,
            timeout: 0,
            tcp_keepalive: 300,
            loglevel: "notice".into(),
            logfile: String::new(),
            maxclients: 10000,
            client_query_buffer_limit: 1024 * 1024 * 1024,
            output_limits: [
                OutputLimit::default(),
                OutputLimit {
                    hard: 32 << 20,
                    soft: 8 << 20,
                    soft_seconds: 60,
                },
                OutputLimit {
                    hard: 256 << 20,
                    soft: 64 << 20,
                    soft_seconds: 60,
                },
            ],
            busy_reply_threshold_ms: 5000,
            hz: 10,
            io_threads: 1,
            notify_keyspace_events: 0,
            tracking_table_max_keys: crate::tracking::DEFAULT_MAX_KEYS,
            enable_debug_command: DebugPolicy::Local,
            compat: Vec::new(),
            engine: EngineConfig::default(),
            file: None,
            observe: Default::default(),
        }
    }
}

/// Parses a memory value as Redis's `memtoull`: `1k`=1000, `1kb`=1024, m, mb, g, gb.
pub fn parse_memory(s: &str) -> Option<u64> {
    let lower = s.to_ascii_lowercase();
    let (num, mul) = if let Some(n) = lower.strip_suffix("gb") {
        (n, 1u64 << 30)
    } else if let Some(n) = lower.strip_suffix("mb") {
        (n, 1 << 20)
    } else if let Some(n) = lower.strip_suffix("kb") {
        (n, 1 << 10)
    } else if let Some(n) = lower.strip_suffix('g') {
        (n, 1_000_000_000)
    } else if let Some(n) = lower.strip_suffix('m') {
        (n, 1_000_000)
    } else if let Some(n) = lower.strip_suffix('k') {
        (n, 1_000)
    } else if let Some(n) = lower.strip_suffix('b') {
        (n, 1)
    } else {
        (lower.as_str(), 1)
    };
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    num.parse::<u64>().ok()?.checked_mul(mul)
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "yes" => Some(true),
        "no" => Some(false),
        _ => None,
    }
}

/// How a directive's value is typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int,
    Memory,
    Bool,
    Text,
    Special,
}

/// One directive: name, kind, whether CONFIG SET may change it.
struct Directive {
    name: &'static str,
    kind: Kind,
    mutable: bool,
}

const fn d(name: &'static str, kind: Kind, mutable: bool) -> Directive {
    Directive {
        name,
        kind,
        mutable,
    }
}

/// Every directive Lattice understands.
const DIRECTIVES: &[Directive] = &[
    d("port", Kind::Int, false),
    d("bind", Kind::Special, false),
    d("requirepass", Kind::Text, true),
    d("protected-mode", Kind::Bool, true),
    d("maxmemory", Kind::Memory, true),
    d("maxmemory-policy", Kind::Special, true),
    d("maxmemory-samples", Kind::Int, true),
    d("dir", Kind::Text, true),
    d("appendonly", Kind::Bool, false),
    d("appendfsync", Kind::Special, true),
    d("auto-aof-rewrite-percentage", Kind::Int, true),
    d("auto-aof-rewrite-min-size", Kind::Memory, true),
    d("debug-log-faults", Kind::Bool, false),
    d("appendfilename", Kind::Text, false),
    d("appenddirname", Kind::Text, false),
    d("databases", Kind::Int, false),
    d("timeout", Kind::Int, true),
    d("tcp-keepalive", Kind::Int, true),
    d("loglevel", Kind::Special, true),
    d("logfile", Kind::Text, false),
    d("maxclients", Kind::Int, true),
    d("client-query-buffer-limit", Kind::Memory, true),
    d("proto-max-bulk-len", Kind::Memory, true),
    d("client-output-buffer-limit", Kind::Special, true),
    d("hz", Kind::Int, true),
    d("busy-reply-threshold", Kind::Int, true),
    d("lua-time-limit", Kind::Int, true),
    d("io-threads", Kind::Int, false),
    d("notify-keyspace-events", Kind::Special, true),
    d("tracking-table-max-keys", Kind::Int, true),
    d("enable-debug-command", Kind::Special, false),
    d("lfu-log-factor", Kind::Int, true),
    d("lfu-decay-time", Kind::Int, true),
    d("hash-max-listpack-entries", Kind::Int, true),
    d("hash-max-listpack-value", Kind::Int, true),
    d("hash-max-ziplist-entries", Kind::Int, true),
    d("hash-max-ziplist-value", Kind::Int, true),
    d("set-max-intset-entries", Kind::Int, true),
    d("set-max-listpack-entries", Kind::Int, true),
    d("set-max-listpack-value", Kind::Int, true),
    d("zset-max-listpack-entries", Kind::Int, true),
    d("zset-max-listpack-value", Kind::Int, true),
    d("zset-max-ziplist-entries", Kind::Int, true),
    d("zset-max-ziplist-value", Kind::Int, true),
    d("list-max-listpack-size", Kind::Special, true),
    d("list-max-ziplist-size", Kind::Special, true),
    d("daemonize", Kind::Bool, false),
    d("save", Kind::Text, true),
    d("lazyfree-lazy-eviction", Kind::Bool, true),
    d("lazyfree-lazy-expire", Kind::Bool, true),
    d("lazyfree-lazy-server-del", Kind::Bool, true),
    d("lazyfree-lazy-user-del", Kind::Bool, true),
    d("lazyfree-lazy-user-flush", Kind::Bool, true),
    d("activedefrag", Kind::Bool, true),
    d("slowlog-log-slower-than", Kind::Special, true),
    d("slowlog-max-len", Kind::Special, true),
    d("latency-monitor-threshold", Kind::Special, true),
    d("latency-tracking", Kind::Special, true),
    d("latency-tracking-info-percentiles", Kind::Special, true),
    d("metrics-port", Kind::Special, false),
    d("metrics-bind", Kind::Special, false),
];

fn directive(name: &str) -> Option<&'static Directive> {
    DIRECTIVES
        .iter()
        .find(|d| d.name.eq_ignore_ascii_case(name))
}

/// Every directive name (CONFIG GET patterns are matched against these).
pub fn directive_names() -> impl Iterator<Item = &'static str> {
    DIRECTIVES.iter().map(|d| d.name)
}

impl ServerConfig {
    /// Reads a config file, then applies `--directive value …` arguments.
    pub fn load(file: Option<&str>, args: &[String]) -> Result<Self, ConfigError> {
        let mut cfg = ServerConfig::default();
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
                path: path.into(),
                reason: e.to_string(),
            })?;
            for (lineno, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let parts = lattice_resp::split_inline_args(line.as_bytes()).map_err(|_| {
                    ConfigError::Invalid {
                        name: format!("line {}", lineno + 1),
                        reason: "unbalanced quotes".into(),
                    }
                })?;
                let parts: Vec<String> = parts
                    .iter()
                    .map(|p| String::from_utf8_lossy(p).into_owned())
                    .collect();
                let Some((name, values)) = parts.split_first() else {
                    continue;
                };
                cfg.set(name, values, true).map_err(|e| match e {
                    ConfigError::Unknown(n) => ConfigError::Invalid {
                        name: n,
                        reason: format!("unknown directive at {path}:{}", lineno + 1),
                    },
                    other => other,
                })?;
            }
            cfg.file = Some(PathBuf::from(path));
        }
        let mut i = 0;
        while i < args.len() {
            let Some(name) = args.get(i).and_then(|a| a.strip_prefix("--")) else {
                return Err(ConfigError::Invalid {
                    name: args.get(i).cloned().unwrap_or_default(),
                    reason: "expected --directive".into(),
                });
            };
            let mut values = Vec::new();
            i += 1;
            while let Some(v) = args.get(i).filter(|a| !a.starts_with("--")) {
                values.push(v.clone());
                i += 1;
            }
            cfg.set(name, &values, true)?;
        }
        Ok(cfg)
    }

    /// Sets a directive. `startup` allows immutable directives.
    pub fn set(&mut self, name: &str, values: &[String], startup: bool) -> Result<(), ConfigError> {
        let lname = name.to_ascii_lowercase();
        let dir = directive(&lname).ok_or_else(|| ConfigError::Unknown(name.into()))?;
        if !dir.mutable && !startup {
            return Err(ConfigError::Immutable(dir.name.into()));
        }
        let invalid = |reason: &str| ConfigError::Invalid {
            name: dir.name.into(),
            reason: reason.into(),
        };
        let one = || -> Result<&str, ConfigError> {
            match values {
                [v] => Ok(v.as_str()),
                _ => Err(invalid("wrong number of arguments")),
            }
        };
        let int = || -> Result<u64, ConfigError> {
            one()?
                .parse::<u64>()
                .map_err(|_| invalid("argument couldn't be parsed into an integer"))
        };
        let mem = || -> Result<u64, ConfigError> {
            parse_memory(one()?).ok_or_else(|| invalid("argument must be a memory value"))
        };
        let boolean = || -> Result<bool, ConfigError> {
            parse_bool(one()?).ok_or_else(|| invalid("argument must be 'yes' or 'no'"))
        };
        let usize_of = |v: u64| usize::try_from(v).map_err(|_| invalid("value is too large"));
        match dir.name {
            "port" => {
                self.port = u16::try_from(int()?).map_err(|_| invalid("argument must be between 0 and 65535 inclusive"))?
            }
            "bind" => {
                if values.is_empty() {
                    return Err(invalid("wrong number of arguments"));
                }
                self.bind = values.to_vec();
            }
            "requirepass" => self.requirepass = one()?.to_string(),
            "protected-mode" => self.protected_mode = boolean()?,
            "maxmemory" => self.maxmemory = mem()?,
            "maxmemory-policy" => {
                self.engine.maxmemory_policy =
                    EvictionPolicy::parse(one()?).ok_or_else(|| invalid("argument(s) must be one of the following: volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction"))?
            }
            "maxmemory-samples" => {
                let v = int()?;
                if v == 0 || v > 64 {
                    return Err(invalid("argument must be between 1 and 64 inclusive"));
                }
                self.engine.maxmemory_samples = usize_of(v)?;
            }
            "dir" => {
                let p = PathBuf::from(one()?);
                if !startup && !p.is_dir() {
                    return Err(invalid("No such file or directory"));
                }
                self.dir = p;
            }
            "appendonly" => self.appendonly = boolean()?,
            "appendfsync" => {
                self.appendfsync = match one()?.to_ascii_lowercase().as_str() {
                    "always" => lattice_storage::FsyncPolicy::Always,
                    "everysec" => lattice_storage::FsyncPolicy::EverySec,
                    "no" => lattice_storage::FsyncPolicy::No,
                    _ => {
                        return Err(invalid(
                            "argument(s) must be one of the following: always, everysec, no",
                        ))
                    }
                }
            }
            "auto-aof-rewrite-percentage" => self.auto_snapshot_percentage = int()?,
            "debug-log-faults" => self.debug_log_faults = boolean()?,
            "auto-aof-rewrite-min-size" => self.auto_snapshot_min_size = mem()?,
            "databases" => {
                let v = int()?;
                if v == 0 || v > 1_000_000 {
                    return Err(invalid("argument must be between 1 and 1000000 inclusive"));
                }
                self.engine.databases = usize_of(v)?;
            }
            "timeout" => self.timeout = int()?,
            "tcp-keepalive" => self.tcp_keepalive = int()?,
            "loglevel" => {
                let v = one()?.to_ascii_lowercase();
                if !["debug", "verbose", "notice", "warning", "nothing"].contains(&v.as_str()) {
                    return Err(invalid("argument(s) must be one of the following: debug, verbose, notice, warning, nothing"));
                }
                self.loglevel = v;
            }
            "logfile" => self.logfile = one()?.to_string(),
            "maxclients" => {
                let v = int()?;
                if v == 0 {
                    return Err(invalid("argument must be between 1 and 4294967295 inclusive"));
                }
                self.maxclients = v;
            }
            "client-query-buffer-limit" => {
                let v = mem()?;
                if v < 1024 * 1024 {
                    return Err(invalid("argument must be between 1048576 and 18446744073709551615 inclusive"));
                }
                self.client_query_buffer_limit = v;
            }
            "proto-max-bulk-len" => {
                let v = mem()?;
                if v < 1024 * 1024 {
                    return Err(invalid("argument must be between 1048576 and 9223372036854775807 inclusive"));
                }
                self.engine.proto_max_bulk_len = usize_of(v)?;
            }
            "client-output-buffer-limit" => {
                if values.is_empty() || !values.len().is_multiple_of(4) {
                    return Err(invalid("Wrong number of arguments in buffer limit configuration."));
                }
                let mut limits = self.output_limits;
                for chunk in values.chunks(4) {
                    let [class, hard, soft, secs] = chunk else {
                        return Err(invalid("Wrong number of arguments in buffer limit configuration."));
                    };
                    let idx = match class.to_ascii_lowercase().as_str() {
                        "normal" => 0,
                        "pubsub" => 1,
                        "replica" | "slave" => 2,
                        _ => return Err(invalid("Invalid client class specified in buffer limit configuration.")),
                    };
                    let hard = parse_memory(hard);
                    let soft = parse_memory(soft);
                    let secs = secs.parse::<u64>().ok();
                    let (Some(hard), Some(soft), Some(soft_seconds)) = (hard, soft, secs) else {
                        return Err(invalid("Error in hard, soft or soft_seconds setting in buffer limit configuration."));
                    };
                    if let Some(slot) = limits.get_mut(idx) {
                        *slot = OutputLimit { hard, soft, soft_seconds };
                    }
                }
                self.output_limits = limits;
            }
            "hz" => {
                let v = int()?;
                self.hz = v.clamp(1, 500);
            }
            "busy-reply-threshold" | "lua-time-limit" => {
                self.busy_reply_threshold_ms = int()?;
            }
            "io-threads" => {
                let v = int()?;
                if v == 0 || v > 128 {
                    return Err(invalid("argument must be between 1 and 128 inclusive"));
                }
                self.io_threads = usize_of(v)?;
            }
            "notify-keyspace-events" => {
                use crate::pubsub::notify;
                let flags = crate::pubsub::parse_notify_flags(one()?)
                    .ok_or_else(|| invalid("Invalid event class character. Use 'Ag$lshzxeKEtmdn'."))?;
                self.notify_keyspace_events = flags;
                // The engine emits the frequent `new`/`keymiss` events only
                // when they would be published.
                let published = flags & (notify::KEYSPACE | notify::KEYEVENT) != 0;
                self.engine.notify_new = published && flags & notify::NEW != 0;
                self.engine.notify_keymiss = published && flags & notify::KEY_MISS != 0;
            }
            "tracking-table-max-keys" => {
                let v = one()?
                    .parse::<i64>()
                    .map_err(|_| invalid("argument couldn't be parsed into an integer"))?;
                self.tracking_table_max_keys = u64::try_from(v).map_err(|_| {
                    invalid("argument must be between 0 and 9223372036854775807 inclusive")
                })?;
            }
            "enable-debug-command" => {
                self.enable_debug_command = match one()?.to_ascii_lowercase().as_str() {
                    "yes" => DebugPolicy::Yes,
                    "no" => DebugPolicy::No,
                    "local" => DebugPolicy::Local,
                    _ => return Err(invalid("argument(s) must be one of the following: no, yes, local")),
                }
            }
            "lfu-log-factor" => self.engine.lfu_log_factor = u32::try_from(int()?).map_err(|_| invalid("value is too large"))?,
            "lfu-decay-time" => self.engine.lfu_decay_time = u32::try_from(int()?).map_err(|_| invalid("value is too large"))?,
            "hash-max-listpack-entries" | "hash-max-ziplist-entries" => {
                self.engine.hash_max_listpack_entries = usize_of(int()?)?
            }
            "hash-max-listpack-value" | "hash-max-ziplist-value" => {
                self.engine.hash_max_listpack_value = usize_of(mem()?)?
            }
            "set-max-intset-entries" => self.engine.set_max_intset_entries = usize_of(int()?)?,
            "set-max-listpack-entries" => self.engine.set_max_listpack_entries = usize_of(int()?)?,
            "set-max-listpack-value" => self.engine.set_max_listpack_value = usize_of(mem()?)?,
            "zset-max-listpack-entries" | "zset-max-ziplist-entries" => {
                self.engine.zset_max_listpack_entries = usize_of(int()?)?
            }
            "zset-max-listpack-value" | "zset-max-ziplist-value" => {
                self.engine.zset_max_listpack_value = usize_of(mem()?)?
            }
            "list-max-listpack-size" | "list-max-ziplist-size" => {
                let v: i64 = one()?.parse().map_err(|_| invalid("argument couldn't be parsed into an integer"))?;
                if v == 0 || v < -5 {
                    return Err(invalid("argument must be between -5 and 2147483647 inclusive, excluding 0"));
                }
                self.engine.list_max_listpack_size = v;
            }
            n if crate::observe::ObserveConfig::handles(n) => {
                self.observe.set(n, values).map_err(|r| invalid(&r))?
            }
            _ => {
                // Accepted for compatibility with existing redis.conf files;
                // these knobs have no effect in Lattice.
                let text = values.join(" ");
                if dir.kind == Kind::Bool && parse_bool(&text).is_none() {
                    return Err(invalid("argument must be 'yes' or 'no'"));
                }
                if dir.name == "daemonize" && parse_bool(&text) == Some(true) {
                    return Err(invalid("daemonize is not supported; run under a supervisor"));
                }
                self.compat.retain(|(n, _)| n != dir.name);
                self.compat.push((dir.name.to_string(), text));
            }
        }
        Ok(())
    }

    /// The current value of a directive, as CONFIG GET prints it.
    pub fn get(&self, name: &str) -> Option<String> {
        let dir = directive(name)?;
        let e = &self.engine;
        Some(match dir.name {
            "port" => self.port.to_string(),
            "bind" => self.bind.join(" "),
            "requirepass" => self.requirepass.clone(),
            "protected-mode" => yes_no(self.protected_mode),
            "maxmemory" => self.maxmemory.to_string(),
            "maxmemory-policy" => e.maxmemory_policy.name().into(),
            "maxmemory-samples" => e.maxmemory_samples.to_string(),
            "dir" => std::fs::canonicalize(&self.dir)
                .unwrap_or_else(|_| self.dir.clone())
                .display()
                .to_string(),
            "appendonly" => yes_no(self.appendonly),
            "appendfsync" => match self.appendfsync {
                lattice_storage::FsyncPolicy::Always => "always".into(),
                lattice_storage::FsyncPolicy::EverySec => "everysec".into(),
                lattice_storage::FsyncPolicy::No => "no".into(),
            },
            "auto-aof-rewrite-percentage" => self.auto_snapshot_percentage.to_string(),
            "debug-log-faults" => yes_no(self.debug_log_faults),
            "auto-aof-rewrite-min-size" => self.auto_snapshot_min_size.to_string(),
            "databases" => e.databases.to_string(),
            "timeout" => self.timeout.to_string(),
            "tcp-keepalive" => self.tcp_keepalive.to_string(),
            "loglevel" => self.loglevel.clone(),
            "logfile" => self.logfile.clone(),
            "maxclients" => self.maxclients.to_string(),
            "client-query-buffer-limit" => self.client_query_buffer_limit.to_string(),
            "proto-max-bulk-len" => e.proto_max_bulk_len.to_string(),
            "client-output-buffer-limit" => {
                let names = ["normal", "slave", "pubsub"];
                let order = [0usize, 2, 1];
                order
                    .iter()
                    .zip(names)
                    .filter_map(|(&i, n)| {
                        self.output_limits
                            .get(i)
                            .map(|l| format!("{n} {} {} {}", l.hard, l.soft, l.soft_seconds))
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            }
            "hz" => self.hz.to_string(),
            "busy-reply-threshold" | "lua-time-limit" => self.busy_reply_threshold_ms.to_string(),
            "io-threads" => self.io_threads.to_string(),
            "notify-keyspace-events" => {
                crate::pubsub::notify_flags_string(self.notify_keyspace_events)
            }
            "tracking-table-max-keys" => self.tracking_table_max_keys.to_string(),
            "enable-debug-command" => match self.enable_debug_command {
                DebugPolicy::No => "no".into(),
                DebugPolicy::Yes => "yes".into(),
                DebugPolicy::Local => "local".into(),
            },
            "lfu-log-factor" => e.lfu_log_factor.to_string(),
            "lfu-decay-time" => e.lfu_decay_time.to_string(),
            "hash-max-listpack-entries" | "hash-max-ziplist-entries" => {
                e.hash_max_listpack_entries.to_string()
            }
            "hash-max-listpack-value" | "hash-max-ziplist-value" => {
                e.hash_max_listpack_value.to_string()
            }
            "set-max-intset-entries" => e.set_max_intset_entries.to_string(),
            "set-max-listpack-entries" => e.set_max_listpack_entries.to_string(),
            "set-max-listpack-value" => e.set_max_listpack_value.to_string(),
            "zset-max-listpack-entries" | "zset-max-ziplist-entries" => {
                e.zset_max_listpack_entries.to_string()
            }
            "zset-max-listpack-value" | "zset-max-ziplist-value" => {
                e.zset_max_listpack_value.to_string()
            }
            "list-max-listpack-size" | "list-max-ziplist-size" => {
                e.list_max_listpack_size.to_string()
            }
            n if crate::observe::ObserveConfig::handles(n) => {
                self.observe.get(n).unwrap_or_default()
            }
            other => self
                .compat
                .iter()
                .find(|(n, _)| n == other)
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| match dir.kind {
                    Kind::Bool => "no".into(),
                    _ => String::new(),
                }),
        })
    }

    /// The config file's text for CONFIG REWRITE: every directive that differs
    /// from the default.
    pub fn render(&self) -> String {
        let default = ServerConfig::default();
        let mut out = String::from("# Written by Lattice CONFIG REWRITE\n");
        for d in DIRECTIVES {
            let (Some(v), dv) = (self.get(d.name), default.get(d.name)) else {
                continue;
            };
            if Some(&v) != dv.as_ref() && d.name != "dir" {
                let quoted = if v.is_empty() || v.contains(' ') && d.kind == Kind::Text {
                    format!("\"{v}\"")
                } else {
                    v
                };
                out.push_str(&format!("{} {}\n", d.name, quoted));
            }
        }
        out
    }
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn memory_units_as_redis() {
        assert_eq!(parse_memory("1k"), Some(1000));
        assert_eq!(parse_memory("1kb"), Some(1024));
        assert_eq!(parse_memory("2GB"), Some(2 << 30));
        assert_eq!(parse_memory("100"), Some(100));
        assert_eq!(parse_memory("-1"), None);
        assert_eq!(parse_memory("1x"), None);
        assert_eq!(parse_memory(""), None);
    }

    #[test]
    fn command_line_overrides() {
        let cfg = ServerConfig::load(
            None,
            &s(&[
                "--port",
                "7000",
                "--maxmemory",
                "1mb",
                "--bind",
                "127.0.0.1",
                "::1",
            ]),
        )
        .unwrap();
        assert_eq!(cfg.port, 7000);
        assert_eq!(cfg.maxmemory, 1 << 20);
        assert_eq!(cfg.bind, s(&["127.0.0.1", "::1"]));
    }

    #[test]
    fn unknown_and_malformed_directives_are_named() {
        let e = ServerConfig::load(None, &s(&["--no-such-thing", "1"])).unwrap_err();
        assert!(e.to_string().contains("no-such-thing"), "{e}");
        let e = ServerConfig::load(None, &s(&["--port", "99999"])).unwrap_err();
        assert!(e.to_string().contains("port"), "{e}");
        let e = ServerConfig::load(None, &s(&["--maxmemory", "lots"])).unwrap_err();
        assert!(e.to_string().contains("maxmemory"), "{e}");
        let e = ServerConfig::load(None, &s(&["port", "1"])).unwrap_err();
        assert!(e.to_string().contains("expected --directive"), "{e}");
        let e = ServerConfig::load(None, &s(&["--maxmemory-policy", "sometimes"])).unwrap_err();
        assert!(e.to_string().contains("maxmemory-policy"), "{e}");
    }

    #[test]
    fn config_file_parsing() {
        let dir = std::env::temp_dir().join(format!("lattice-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.conf");
        std::fs::write(
            &path,
            "# comment\nport 7100\nrequirepass \"a b\"\n\nmaxmemory-policy allkeys-lru\n",
        )
        .unwrap();
        let cfg = ServerConfig::load(Some(path.to_str().unwrap()), &[]).unwrap();
        assert_eq!(cfg.port, 7100);
        assert_eq!(cfg.requirepass, "a b");
        std::fs::write(&path, "port 7100\nbogus 1\n").unwrap();
        let e = ServerConfig::load(Some(path.to_str().unwrap()), &[]).unwrap_err();
        assert!(
            e.to_string().contains("bogus") && e.to_string().contains(":2"),
            "{e}"
        );
        std::fs::write(&path, "requirepass \"unterminated\n").unwrap();
        assert!(ServerConfig::load(Some(path.to_str().unwrap()), &[]).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn io_threads_bounds() {
        assert_eq!(ServerConfig::default().io_threads, 1);
        assert_eq!(
            ServerConfig::load(None, &s(&["--io-threads", "4"]))
                .unwrap()
                .io_threads,
            4
        );
        assert!(ServerConfig::load(None, &s(&["--io-threads", "0"])).is_err());
        assert!(ServerConfig::load(None, &s(&["--io-threads", "500"])).is_err());
    }

    #[test]
    fn immutable_at_runtime() {
        let mut cfg = ServerConfig::default();
        assert!(matches!(
            cfg.set("port", &s(&["1"]), false),
            Err(ConfigError::Immutable(_))
        ));
        cfg.set("maxmemory", &s(&["10mb"]), false).unwrap();
        assert_eq!(cfg.get("maxmemory").unwrap(), (10u64 << 20).to_string());
    }
}
