//! Lattice's command semantics, pure: the keyspace, the value types and their
//! encodings, the command table, expiry and eviction decisions.
//!
//! This crate has no I/O, no clock and no ambient randomness (a CI check keeps
//! tokio and mio out of its dependency tree; `clippy.toml` bans
//! `SystemTime::now`/`Instant::now`/`thread_rng` here). Time and randomness are
//! inputs, so a write replays identically from the log:
//!
//! * a read runs with [`Engine::read`] at the caller's time;
//! * a write is [`Engine::prepare`]d into a self-contained [`WriteOp`]
//!   (arguments, database, time, RNG seed), and [`Engine::apply`] executes it,
//!   returning the reply plus [`Effect`]s (notifications, modified keys, keys
//!   ready for blocked clients) as data for the server to carry out;
//! * active expiry and eviction are decisions ([`Engine::expired_keys`],
//!   [`Engine::eviction_victims`]) that the server turns into
//!   [`WriteOp::Expire`]/[`WriteOp::Evict`], so replicas never delete on
//!   their own clock;
//! * a snapshot is copied under the caller's lock ([`Engine::snapshot_view`]),
//!   streamed off it ([`SnapshotView::write_to`]) and loaded whole
//!   ([`Engine::load_snapshot`]); the format is in
//!   `docs/design/snapshot-format.md`.
//!
//! Depends on no other Lattice crate; `lattice-server` depends on it.

mod access;
pub mod cmd;
mod config;
mod effect;
mod error;
mod eviction;
mod exec;
pub mod glob;
mod keyspace;
pub mod number;
mod reply;
mod snapshot;
#[cfg(test)]
mod test_replies;
pub mod types;
mod value;

use bytes::Bytes;
use rand::rngs::SmallRng;
use rand::SeedableRng;

pub use cmd::{flags, CommandSpec, Group};
pub use config::{EngineConfig, EvictionPolicy};
pub use effect::{Effect, EventClass};
pub use error::CmdError;
pub use exec::Exec;
pub use keyspace::{Db, Entry, FastHasher, Key};
pub use reply::Reply;
pub use snapshot::{SnapshotError, SnapshotView};
pub use value::{StrValue, Value, ValueType};

/// Counters reported by `INFO stats` and `INFO persistence`.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    /// Keys deleted because their TTL passed.
    pub expired_keys: u64,
    /// Keys evicted under `maxmemory`.
    pub evicted_keys: u64,
    /// Successful key lookups.
    pub keyspace_hits: u64,
    /// Failed key lookups.
    pub keyspace_misses: u64,
    /// Changes since start (`rdb_changes_since_last_save` style).
    pub dirty: u64,
}

/// A write made self-contained for the log: replaying it on the same state
/// gives the same state, reply and effects.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteOp {
    /// A client command.
    Command {
        /// Database selected by the client.
        db: usize,
        /// The command and its arguments.
        args: Vec<Bytes>,
        /// Time of the write (Unix ms): relative TTLs resolve against it.
        time_ms: u64,
        /// Seed of the RNG for random picks (SPOP, SRANDMEMBER …).
        seed: u64,
    },
    /// Delete keys whose TTL passed, as decided by the leader's expiry cycle.
    Expire {
        /// Database.
        db: usize,
        /// Keys to delete if still expired at `time_ms`.
        keys: Vec<Bytes>,
        /// Time of the decision.
        time_ms: u64,
    },
    /// Evict keys under `maxmemory`.
    Evict {
        /// Database.
        db: usize,
        /// Keys to delete.
        keys: Vec<Bytes>,
        /// Time of the decision.
        time_ms: u64,
    },
    /// A transaction (MULTI/EXEC): commands applied in order as one entry,
    /// all at the same time, none allowed to block. The reply is an array
    /// of the commands' replies; a failing command does not stop the rest.
    Batch {
        /// Each command with the database it runs in (SELECT inside MULTI
        /// changes it for the commands queued after it).
        cmds: Vec<(usize, Vec<Bytes>)>,
        /// Time of the whole transaction (Unix ms), as Redis uses one.
        time_ms: u64,
        /// Seed from which each command's RNG is derived.
        seed: u64,
    },
}

/// The result of running a command.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The reply.
    pub reply: Reply,
    /// Effects for the server to carry out.
    pub effects: Vec<Effect>,
}

/// The whole dataset and the settings that shape it.
#[derive(Debug)]
pub struct Engine {
    dbs: Vec<Db>,
    config: EngineConfig,
    /// Counters.
    pub stats: Stats,
}

impl Engine {
    /// An empty dataset with `config.databases` databases (at least one).
    pub fn new(config: EngineConfig) -> Self {
        let n = config.databases.max(1);
        Self {
            dbs: (0..n).map(|_| Db::default()).collect(),
            config,
            stats: Stats::default(),
        }
    }

    /// Settings in force.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Replaces the settings (`CONFIG SET`). The number of databases is fixed
    /// at start and is not changed here.
    pub fn set_config(&mut self, mut config: EngineConfig) {
        config.databases = self.dbs.len();
        self.config = config;
    }

    /// Database `i`.
    pub fn db(&self, i: usize) -> Option<&Db> {
        self.dbs.get(i)
    }

    /// Database `i`, mutably (loading, tests).
    pub fn db_mut(&mut self, i: usize) -> Option<&mut Db> {
        self.dbs.get_mut(i)
    }

    /// Number of databases.
    pub fn db_count(&self) -> usize {
        self.dbs.len()
    }

    fn exec(
        &mut self,
        db: usize,
        now_ms: u64,
        seed: u64,
        writing: bool,
        allow_block: bool,
    ) -> Exec<'_> {
        Exec {
            dbs: &mut self.dbs,
            config: &self.config,
            stats: &mut self.stats,
            db,
            now_ms,
            rng: SmallRng::seed_from_u64(seed),
            effects: Vec::new(),
            allow_block,
            writing,
        }
    }

    fn run(spec: &CommandSpec, ex: &mut Exec<'_>, args: &[Bytes]) -> Reply {
        let Some(handler) = spec.handler else {
            return Reply::Error(CmdError::err(format!(
                "'{}' is not an engine command",
                spec.name
            )));
        };
        handler(ex, args).unwrap_or_else(Reply::Error)
    }

    /// Runs a read-only command at `now_ms`. Expired keys are hidden, not
    /// deleted. `seed` feeds random picks (RANDOMKEY, SRANDMEMBER).
    pub fn read(
        &mut self,
        spec: &CommandSpec,
        db: usize,
        args: &[Bytes],
        now_ms: u64,
        seed: u64,
    ) -> Outcome {
        let mut ex = self.exec(db, now_ms, seed, false, false);
        let reply = Self::run(spec, &mut ex, args);
        Outcome {
            reply,
            effects: ex.effects,
        }
    }

    /// Runs one command as the server does for engine commands: resolves it
    /// (unknown command and arity errors as Redis), then a read through
    /// [`Engine::read`] or a write through [`Engine::prepare`] and
    /// [`Engine::apply`]. Server-layer commands answer an error. For tests,
    /// embedding and replay tools.
    pub fn call(
        &mut self,
        db: usize,
        args: Vec<Bytes>,
        now_ms: u64,
        seed: u64,
        allow_block: bool,
    ) -> Outcome {
        match cmd::resolve(&args) {
            Err(e) => Outcome {
                reply: Reply::Error(e),
                effects: Vec::new(),
            },
            Ok(r) if r.spec.is_write() => {
                let op = self.prepare(db, args, now_ms, seed);
                self.apply(&op, allow_block)
            }
            Ok(r) => self.read(r.spec, db, &args, now_ms, seed),
        }
    }

    /// Makes a write self-contained: the time and seed it will apply with.
    pub fn prepare(&self, db: usize, args: Vec<Bytes>, now_ms: u64, seed: u64) -> WriteOp {
        WriteOp::Command {
            db,
            args,
            time_ms: now_ms,
            seed,
        }
    }

    /// Applies a write. `allow_block` lets a blocking command answer
    /// `WouldBlock` (it is false inside MULTI and when replaying a log).
    pub fn apply(&mut self, op: &WriteOp, allow_block: bool) -> Outcome {
        match op {
            WriteOp::Command {
                db,
                args,
                time_ms,
                seed,
            } => {
                let resolved = cmd::resolve(args);
                let mut ex = self.exec(*db, *time_ms, *seed, true, allow_block);
                let reply = match resolved {
                    Ok(r) => Self::run(r.spec, &mut ex, args),
                    Err(e) => Reply::Error(e),
                };
                Outcome {
                    reply,
                    effects: ex.effects,
                }
            }
            WriteOp::Expire { db, keys, time_ms } => {
                let mut ex = self.exec(*db, *time_ms, 0, true, false);
                for k in keys {
                    if ex.db_mut().get(k).is_some_and(|e| e.is_expired(*time_ms)) {
                        ex.delete_expired(k);
                    }
                }
                Outcome {
                    reply: Reply::Ok,
                    effects: ex.effects,
                }
            }
            WriteOp::Evict { db, keys, time_ms } => {
                let mut ex = self.exec(*db, *time_ms, 0, true, false);
                for k in keys {
                    if ex.db_mut().remove(k).is_some() {
                        ex.stats.evicted_keys += 1;
                        ex.notify(EventClass::Evicted, "evicted", k);
                        ex.modified(k);
                    }
                }
                Outcome {
                    reply: Reply::Ok,
                    effects: ex.effects,
                }
            }
            WriteOp::Batch {
                cmds,
                time_ms,
                seed,
            } => {
                let mut replies = Vec::with_capacity(cmds.len());
                let mut effects = Vec::new();
                for (i, (db, args)) in cmds.iter().enumerate() {
                    // A distinct, deterministic RNG stream per command, so two
                    // SPOPs in one transaction do not repeat each other's picks.
                    let s = seed.wrapping_add((i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
                    let mut ex = self.exec(*db, *time_ms, s, true, false);
                    let reply = match cmd::resolve(args) {
                        Ok(r) => Self::run(r.spec, &mut ex, args),
                        Err(e) => Reply::Error(e),
                    };
                    effects.append(&mut ex.effects);
                    replies.push(reply);
                }
                Outcome {
                    reply: Reply::Array(replies),
                    effects,
                }
            }
        }
    }

    /// Active expiry: samples keys with a TTL in every database and returns
    /// those expired at `now_ms`, at most `max` in all (Redis's
    /// `activeExpireCycle`: 20 samples per database, repeated while more than
    /// a quarter of a sample was expired).
    pub fn expired_keys(&self, now_ms: u64, seed: u64, max: usize) -> Vec<(usize, Bytes)> {
        use rand::Rng;
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut out = Vec::new();
        for (i, db) in self.dbs.iter().enumerate() {
            let mut rounds = 0;
            loop {
                let n = db.volatile_len();
                if n == 0 || out.len() >= max {
                    break;
                }
                let sample = n.min(20);
                let mut found = 0;
                let start = rng.gen_range(0..n);
                for j in 0..sample {
                    let Some(k) = db.volatile_key((start + j) % n) else {
                        continue;
                    };
                    if db.get(k).is_some_and(|e| e.is_expired(now_ms))
                        && !out
                            .iter()
                            .any(|(d, o): &(usize, Bytes)| *d == i && o[..] == k[..])
                    {
                        out.push((i, Bytes::copy_from_slice(k)));
                        found += 1;
                    }
                }
                rounds += 1;
                if found * 4 <= sample || rounds >= 16 {
                    break;
                }
            }
        }
        out.truncate(max);
        out
    }

    /// Picks up to `n` victims for eviction under the current policy.
    pub fn eviction_victims(&self, now_ms: u64, seed: u64, n: usize) -> Vec<(usize, Bytes)> {
        eviction::victims(&self.dbs, &self.config, now_ms, seed, n)
    }

    /// `DEBUG POPULATE`: creates `count` string keys `prefix:N` with values
    /// `value:N` (zero-padded or cut to `size` bytes when given), skipping
    /// keys that exist, as Redis does.
    pub fn populate(
        &mut self,
        db: usize,
        count: u64,
        prefix: &[u8],
        size: Option<usize>,
        now_ms: u64,
    ) {
        let access = access::initial_access(now_ms, &self.config);
        let Some(d) = self.dbs.get_mut(db) else {
            return;
        };
        d.reserve(count.min(1 << 24) as usize);
        let mut key = Vec::with_capacity(prefix.len() + 21);
        for i in 0..count {
            key.clear();
            key.extend_from_slice(prefix);
            key.push(b':');
            key.extend_from_slice(itoa::Buffer::new().format(i).as_bytes());
            if d.get(&key).is_some() {
                continue;
            }
            let mut val = format!("value:{i}").into_bytes();
            if let Some(n) = size {
                val.resize(n, 0);
            }
            d.insert(&key, Value::str(&val), 0, access);
            self.stats.dirty += 1;
        }
    }

    /// Estimated bytes of a key's value and entry (`MEMORY USAGE`).
    pub fn memory_usage(&self, db: usize, key: &[u8]) -> Option<usize> {
        let e = self.dbs.get(db)?.get(key)?;
        Some(std::mem::size_of::<Entry>() + key.len() + e.value.mem_usage())
    }
}
