//! State shared by every connection: the engine, the blocked-client registry
//! and the WATCH registry behind one lock ([`Core`]; the state machine's
//! apply takes it for each log entry, so blocking registrations, WATCH checks
//! and the writes that affect them happen in log order), the write path, the
//! configuration, the client registry, counters, pause state and the shutdown
//! signal.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use lattice_engine::{Effect, Engine, Reply, WriteOp};
use tokio::sync::{oneshot, watch, Notify};

use crate::config::ServerConfig;
use crate::transaction::Watches;

/// Redis's reply while the dataset is still being loaded.
pub fn loading() -> lattice_engine::CmdError {
    lattice_engine::CmdError::Other("LOADING Lattice is loading the dataset in memory".into())
}

/// Unix time in milliseconds.
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A client waiting in a blocking command.
struct Waiter {
    /// Registration order (snapshots re-register waiters in it).
    seq: u64,
    db: usize,
    args: Vec<Bytes>,
    keys: Vec<Bytes>,
    tx: oneshot::Sender<Reply>,
}

/// Clients blocked on keys, served in the order they blocked (Redis's
/// fairness rule).
#[derive(Default)]
pub struct Blocked {
    by_key: HashMap<(usize, Bytes), VecDeque<u64>>,
    waiters: HashMap<u64, Waiter>,
    next_seq: u64,
}

impl Blocked {
    /// Number of blocked clients.
    pub fn len(&self) -> usize {
        self.waiters.len()
    }

    /// True when nobody is blocked.
    pub fn is_empty(&self) -> bool {
        self.waiters.is_empty()
    }

    /// Registers `client` as waiting on `keys` to re-run `args`.
    pub fn add(
        &mut self,
        client: u64,
        db: usize,
        args: Vec<Bytes>,
        keys: Vec<Bytes>,
    ) -> oneshot::Receiver<Reply> {
        let (tx, rx) = oneshot::channel();
        for k in &keys {
            self.by_key
                .entry((db, k.clone()))
                .or_default()
                .push_back(client);
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.waiters.insert(
            client,
            Waiter {
                seq,
                db,
                args,
                keys,
                tx,
            },
        );
        rx
    }

    /// True if `client` is waiting.
    pub fn contains(&self, client: u64) -> bool {
        self.waiters.contains_key(&client)
    }

    /// Every waiter in registration order, for a snapshot:
    /// (client, db, command, keys).
    pub fn export(&self) -> Vec<(u64, usize, Vec<Bytes>, Vec<Bytes>)> {
        let mut w: Vec<_> = self.waiters.iter().collect();
        w.sort_by_key(|(_, w)| w.seq);
        w.into_iter()
            .map(|(&c, w)| (c, w.db, w.args.clone(), w.keys.clone()))
            .collect()
    }

    /// Removes a waiter (served, timed out, disconnected) and returns the
    /// channel its reply goes to; `None` if it was no longer waiting.
    pub fn take(&mut self, client: u64) -> Option<oneshot::Sender<Reply>> {
        let w = self.waiters.remove(&client)?;
        for k in w.keys {
            let slot = (w.db, k);
            if let Some(q) = self.by_key.get_mut(&slot) {
                q.retain(|&c| c != client);
                if q.is_empty() {
                    self.by_key.remove(&slot);
                }
            }
        }
        Some(w.tx)
    }
}

/// The engine and the blocked registry: everything one write touches.
pub struct Core {
    /// The dataset.
    pub engine: Engine,
    /// Blocked clients.
    pub blocked: Blocked,
    /// WATCHed keys: every applied write's effects touch them.
    pub watches: Watches,
    /// Pub/sub registry: applied writes publish keyspace notifications.
    pub pubsub: Arc<crate::pubsub::PubSub>,
    /// The Lua VM, script cache and function libraries. `None` only while
    /// a script runs (it is taken out so the script can borrow the rest).
    pub scripting: Option<lattice_script::Scripting>,
    /// Woken whenever a script ends (connections waiting at the busy gate).
    pub script_done: Arc<Notify>,
    /// Client-side caching: applied writes invalidate tracked keys.
    pub tracking: Arc<crate::tracking::Tracking>,
    /// The client whose write is being applied (`Core::apply_as`), for
    /// tracking's NOLOOP.
    pub current_client: u64,
}

impl Core {
    /// An idle core around `engine`.
    pub fn new(engine: Engine, pubsub: Arc<crate::pubsub::PubSub>) -> Core {
        let scripting = match lattice_script::Scripting::new() {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::error!(error = %e, "scripting is unavailable");
                None
            }
        };
        Core {
            engine,
            blocked: Blocked::default(),
            watches: Watches::default(),
            tracking: Arc::new(crate::tracking::Tracking::new(pubsub.clone())),
            pubsub,
            scripting,
            script_done: Arc::new(Notify::new()),
            current_client: lattice_raft::INTERNAL_CLIENT,
        }
    }

    /// Applies a write and carries out its effects (serving blocked clients
    /// whose keys received data, in the order they blocked).
    pub fn apply(&mut self, op: &WriteOp, allow_block: bool) -> Reply {
        let existed = self.watches.before_apply(op, &self.engine);
        let out = self.engine.apply(op, allow_block);
        self.pubsub.notify_effects(&out.effects);
        self.tracking
            .after_apply(op, &out.effects, self.current_client);
        self.watches
            .after_apply(&out.effects, existed.as_ref(), &self.engine, op_time(op));
        self.after_effects(out.effects, op_time(op));
        out.reply
    }

    /// Serves blocked clients on keys that became ready, cascading
    /// (a served BLMOVE may make another key ready).
    pub(crate) fn after_effects(&mut self, effects: Vec<Effect>, now_ms: u64) {
        if self.blocked.is_empty() {
            return;
        }
        let mut ready: VecDeque<(usize, Bytes)> = effects
            .into_iter()
            .filter_map(|e| match e {
                Effect::KeyReady { db, key } => Some((db, key)),
                _ => None,
            })
            .collect();
        let mut rounds = 0;
        while let Some(slot) = ready.pop_front() {
            rounds += 1;
            if rounds > 100_000 {
                break;
            }
            let Some(queue) = self.blocked.by_key.get(&slot) else {
                continue;
            };
            let order: Vec<u64> = queue.iter().copied().collect();
            for client in order {
                let Some(w) = self.blocked.waiters.get(&client) else {
                    continue;
                };
                let op = WriteOp::Command {
                    db: w.db,
                    args: w.args.clone(),
                    time_ms: now_ms,
                    seed: client ^ now_ms,
                };
                let out = self.engine.apply(&op, true);
                if matches!(out.reply, Reply::WouldBlock { .. }) {
                    continue;
                }
                self.pubsub.notify_effects(&out.effects);
                self.tracking.after_apply(&op, &out.effects, client);
                self.watches
                    .after_apply(&out.effects, None, &self.engine, now_ms);
                ready.extend(out.effects.into_iter().filter_map(|e| match e {
                    Effect::KeyReady { db, key } => Some((db, key)),
                    _ => None,
                }));
                if let Some(tx) = self.blocked.take(client) {
                    // A closed receiver means the client left; the write it
                    // triggered stands, as in Redis.
                    let _ = tx.send(out.reply);
                }
            }
        }
    }
}

fn op_time(op: &WriteOp) -> u64 {
    match op {
        WriteOp::Command { time_ms, .. }
        | WriteOp::Expire { time_ms, .. }
        | WriteOp::Evict { time_ms, .. }
        | WriteOp::Batch { time_ms, .. } => *time_ms,
    }
}

/// What the registry knows about one connection (CLIENT LIST / INFO / KILL).
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    /// CLIENT SETNAME
    pub name: String,
    /// Selected database.
    pub db: usize,
    /// Protocol version (2 or 3).
    pub resp: u8,
    /// Last command name (`client|list` style).
    pub last_cmd: String,
    /// CLIENT SETINFO lib-name
    pub lib_name: String,
    /// CLIENT SETINFO lib-ver
    pub lib_ver: String,
    /// CLIENT NO-EVICT
    pub no_evict: bool,
    /// Blocked in a blocking command.
    pub blocked: bool,
    /// Bytes in the query buffer.
    pub qbuf: usize,
    /// Channels subscribed (CLIENT LIST `sub=`).
    pub sub: usize,
    /// Patterns subscribed (`psub=`).
    pub psub: usize,
    /// Shard channels subscribed (`ssub=`).
    pub ssub: usize,
}

/// A connected client as other connections see it.
pub struct ClientHandle {
    /// CLIENT ID
    pub id: u64,
    /// Peer address.
    pub addr: SocketAddr,
    /// Local address.
    pub laddr: SocketAddr,
    /// Connection time.
    pub created: Instant,
    /// Last command time.
    pub last_active: Mutex<Instant>,
    /// Mutable details.
    pub info: Mutex<ClientInfo>,
    /// Set by CLIENT KILL; the connection closes when it sees it.
    pub killed: AtomicBool,
    /// Wakes the connection after `killed` is set.
    pub kill_notify: Notify,
}

impl ClientHandle {
    /// Locks the client's details (poisoning is recovered: the data is plain).
    pub fn info(&self) -> MutexGuard<'_, ClientInfo> {
        self.info
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Marks the client killed and wakes its connection.
    pub fn kill(&self) {
        self.killed.store(true, Ordering::SeqCst);
        self.kill_notify.notify_one();
    }
}

/// Server-wide counters (`INFO stats`).
#[derive(Default)]
pub struct ServerStats {
    /// Accepted connections.
    pub total_connections_received: AtomicU64,
    /// Commands executed.
    pub total_commands_processed: AtomicU64,
    /// Connections refused (maxclients, protected mode).
    pub rejected_connections: AtomicU64,
    /// Bytes read from clients.
    pub net_input_bytes: AtomicU64,
    /// Bytes written to clients.
    pub net_output_bytes: AtomicU64,
    /// Errors replied.
    pub total_error_replies: AtomicU64,
    /// Commands per second, sampled by the cron task.
    pub instantaneous_ops_per_sec: AtomicU64,
}

/// CLIENT PAUSE state.
#[derive(Debug, Clone, Copy, Default)]
pub struct Pause {
    /// Paused until (None: not paused).
    pub until: Option<Instant>,
    /// Only writes are paused.
    pub writes_only: bool,
}

/// Everything connections share.
pub struct Shared {
    core: Mutex<Core>,
    config: RwLock<ServerConfig>,
    clients: Mutex<BTreeMap<u64, Arc<ClientHandle>>>,
    next_client_id: AtomicU64,
    seed: AtomicU64,
    /// Counters.
    pub stats: ServerStats,
    /// Process start.
    pub started: Instant,
    /// Random 40-hex run id (INFO server).
    pub run_id: String,
    /// Set to true to stop the server.
    pub shutdown: watch::Sender<bool>,
    /// SHUTDOWN was called by a client (as opposed to a signal).
    pub shutdown_requested: AtomicBool,
    /// CLIENT PAUSE state.
    pub pause: Mutex<Pause>,
    /// Woken on CLIENT UNPAUSE.
    pub unpaused: Notify,
    /// The TCP port actually bound.
    pub port: AtomicU64,
    /// Bumped on every CONFIG SET so connections refresh cached limits.
    pub config_epoch: AtomicU64,
    /// Mirror of `config.maxmemory` (see `maxmemory()`).
    maxmemory: AtomicU64,
    /// Command statistics, slow log, latency monitor, hot keys (`observe`).
    pub observe: crate::observe::Observe,
    /// Pub/sub registry and keyspace-notification settings.
    pub pubsub: Arc<crate::pubsub::PubSub>,
    /// Client-side caching registry (the one `Core` invalidates through).
    pub tracking: Arc<crate::tracking::Tracking>,
    /// The log and its proposer, once the node has opened (recovery done).
    write_path: std::sync::OnceLock<crate::write_path::WritePath>,
    /// Isolation of transactions that mix server-layer commands: every
    /// command executes under a read guard; such an EXEC takes the write
    /// guard, so nothing else runs until it ends (its engine runs are
    /// separate log commands).
    pub isolation: tokio::sync::RwLock<()>,
    /// How SHUTDOWN asked to stop: 0 default, 1 SAVE, 2 NOSAVE.
    pub shutdown_save: std::sync::atomic::AtomicU8,
    /// The running script's state (busy gate, SCRIPT KILL), readable
    /// without the engine lock the script holds.
    pub scripts: Arc<lattice_script::ScriptControl>,
    /// Woken whenever a script ends.
    pub script_done: Arc<Notify>,
    /// Log entries whose script SHUTDOWN NOSAVE cut short (not run again).
    pub aborted_scripts: Mutex<std::collections::HashSet<u64>>,
}

impl Shared {
    /// Fresh state for `config`.
    pub fn new(config: ServerConfig) -> Arc<Self> {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::from_entropy();
        let run_id: String = (0..40)
            .map(|_| format!("{:x}", rng.gen_range(0..16u8)))
            .collect();
        let engine = Engine::new(config.engine.clone());
        let config_maxmemory = config.maxmemory;
        let (shutdown, _) = watch::channel(false);
        let observe = crate::observe::Observe::new(&config.observe);
        let pubsub = Arc::new(crate::pubsub::PubSub::new(&config));
        let core = Core::new(engine, pubsub.clone());
        let scripts = core
            .scripting
            .as_ref()
            .map(|s| s.control())
            .unwrap_or_default();
        scripts.set_threshold_ms(config.busy_reply_threshold_ms);
        // Until recovery ends, no client can kill a script the log replays.
        scripts.set_auto_kill(true);
        let script_done = core.script_done.clone();
        let tracking = core.tracking.clone();
        tracking.configure(&config);
        Arc::new(Self {
            core: Mutex::new(core),
            config: RwLock::new(config),
            clients: Mutex::new(BTreeMap::new()),
            next_client_id: AtomicU64::new(1),
            seed: AtomicU64::new(rng.gen()),
            stats: ServerStats::default(),
            started: Instant::now(),
            run_id,
            shutdown,
            shutdown_requested: AtomicBool::new(false),
            pause: Mutex::new(Pause::default()),
            unpaused: Notify::new(),
            port: AtomicU64::new(0),
            config_epoch: AtomicU64::new(0),
            maxmemory: AtomicU64::new(config_maxmemory),
            observe,
            pubsub,
            tracking,
            write_path: std::sync::OnceLock::new(),
            isolation: tokio::sync::RwLock::new(()),
            shutdown_save: std::sync::atomic::AtomicU8::new(0),
            scripts,
            script_done,
            aborted_scripts: Mutex::new(Default::default()),
        })
    }

    /// Installs the write path once the node has opened.
    pub fn set_write_path(&self, wp: crate::write_path::WritePath) {
        if self.write_path.set(wp).is_err() {
            tracing::error!("the write path was installed twice");
        }
    }

    /// The write path (`None` while the node is still loading).
    pub fn write_path(&self) -> Option<&crate::write_path::WritePath> {
        self.write_path.get()
    }

    /// Submits a log command and waits for its outcome.
    pub async fn propose(
        &self,
        cmd: lattice_raft::Command,
    ) -> Result<lattice_raft::Outcome, lattice_engine::CmdError> {
        match self.write_path() {
            Some(wp) => wp.propose(cmd).await,
            None => Err(loading()),
        }
    }

    /// Submits a log command without waiting (its place in the log is
    /// fixed now, before anything this caller submits later).
    pub fn submit(&self, cmd: lattice_raft::Command) {
        match self.write_path() {
            Some(wp) => {
                if let Err(e) = wp.submit(cmd) {
                    tracing::warn!(error = %e.to_string(), "a session command was not logged");
                }
            }
            None => tracing::warn!("a session command arrived before the log opened"),
        }
    }

    /// Locks the engine. A panic while holding the lock is a bug; the data is
    /// still consistent at command granularity, so later calls proceed.
    ///
    /// While a script runs it holds the lock for as long as it runs, so a
    /// caller that has to wait gives its runtime thread away first
    /// (`block_in_place`): connections keep being served and can reach the
    /// busy gate and SCRIPT KILL.
    pub fn core(&self) -> MutexGuard<'_, Core> {
        if let Ok(g) = self.core.try_lock() {
            return g;
        }
        let lock = || {
            self.core
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        if self.scripts.running_for().is_some() {
            return crate::scripting::blocking(lock);
        }
        lock()
    }

    /// Locks the engine for a client command: while a script holds it, the
    /// command waits at the busy gate (no thread held; `-BUSY` past
    /// `busy-reply-threshold`) instead of blocking a runtime thread for
    /// the whole script.
    pub async fn core_for(
        &self,
        r: &lattice_engine::cmd::Resolved,
        args: &[Bytes],
    ) -> Result<MutexGuard<'_, Core>, lattice_engine::CmdError> {
        loop {
            if let Ok(g) = self.core.try_lock() {
                return Ok(g);
            }
            if self.scripts.running_for().is_none() {
                // Held by an ordinary apply: a short wait.
                return Ok(self.core());
            }
            crate::scripting::busy_gate(self, r, args).await?;
            tokio::task::yield_now().await;
        }
    }

    /// A copy of the configuration.
    pub fn config(&self) -> ServerConfig {
        self.config
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Runs `f` on the configuration under the write lock.
    pub fn with_config_mut<T>(&self, f: impl FnOnce(&mut ServerConfig) -> T) -> T {
        let mut g = self
            .config
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let r = f(&mut g);
        self.maxmemory.store(g.maxmemory, Ordering::Relaxed);
        r
    }

    /// `maxmemory`, read on every write without cloning the configuration.
    pub fn maxmemory(&self) -> u64 {
        self.maxmemory.load(Ordering::Relaxed)
    }

    /// A fresh seed for a write's RNG.
    pub fn next_seed(&self) -> u64 {
        // splitmix64 over a counter: distinct, well-mixed seeds without a lock.
        let mut z = self
            .seed
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Registers a new client and returns its handle.
    pub fn register_client(&self, addr: SocketAddr, laddr: SocketAddr) -> Arc<ClientHandle> {
        let id = self.next_client_id.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        let h = Arc::new(ClientHandle {
            id,
            addr,
            laddr,
            created: now,
            last_active: Mutex::new(now),
            info: Mutex::new(ClientInfo {
                resp: 2,
                ..Default::default()
            }),
            killed: AtomicBool::new(false),
            kill_notify: Notify::new(),
        });
        self.clients_lock().insert(id, h.clone());
        h
    }

    /// Removes a client from the registry.
    pub fn unregister_client(&self, id: u64) {
        self.clients_lock().remove(&id);
        // Session state changes only through the log, so replay agrees.
        let (watching, blocked) = {
            let core = self.core();
            (core.watches.is_watching(id), core.blocked.contains(id))
        };
        if watching {
            self.submit(lattice_raft::Command::Unwatch { client: id });
        }
        if blocked {
            tracing::debug!(client = id, "blocked client disconnected");
            self.submit(lattice_raft::Command::Unblock { client: id });
        }
    }

    fn clients_lock(&self) -> MutexGuard<'_, BTreeMap<u64, Arc<ClientHandle>>> {
        self.clients
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Every connected client, by id.
    pub fn clients(&self) -> Vec<Arc<ClientHandle>> {
        self.clients_lock().values().cloned().collect()
    }

    /// Number of connected clients.
    pub fn client_count(&self) -> usize {
        self.clients_lock().len()
    }
}
