//! Client-side caching with Redis 7.0's semantics (`tracking.c`): CLIENT
//! TRACKING, CACHING, GETREDIR and TRACKINGINFO; the registry of who may
//! cache which key ([`Tracking`], held by `Shared` and `Core`); and the
//! invalidations that applied writes' effects cause.
//!
//! **Modes.** By default the keys a tracking client reads (the key
//! positions of read-only commands) are remembered in a key → clients
//! table; the first write to such a key sends each of those clients one
//! invalidation and forgets them. OPTIN remembers only after `CLIENT
//! CACHING YES`, OPTOUT unless `CLIENT CACHING NO`; either lasts for the
//! next command (a whole MULTI … EXEC). BCAST remembers nothing: every
//! write to a key under one of the client's prefixes (to any key, without
//! prefixes) notifies it, one message per prefix per applied command with
//! the keys sorted. NOLOOP: a client's own writes do not notify it. A flush
//! (FLUSHALL, FLUSHDB, SWAPDB) sends every tracking client a null: drop
//! everything. Keys are not per database, as in Redis.
//!
//! **Delivery.** Through the connections' pub/sub push queues
//! (`crate::pubsub`), so invalidations are bounded by
//! `client-output-buffer-limit pubsub` and written between replies, after
//! the reply of the command that caused them. A RESP3 client gets
//! `>2 invalidate [keys]`. With REDIRECT the messages go to the other
//! connection instead: as the same push if it speaks RESP3, as a `message`
//! on `__redis__:invalidate` if it is a RESP2 connection in subscribed
//! context, else nowhere (as for a RESP2 client without REDIRECT). Once
//! the target has gone, each message it would have received sets the
//! client's broken-redirect flag (`R`) and, to a RESP3 client, sends
//! `tracking-redir-broken <id>`.
//!
//! **Ordering.** A read remembers its keys in the same critical section as
//! the read itself (under the engine lock), and `Core::apply` invalidates
//! under that lock too, so a write applied after a read always reaches
//! the reader. Lock order: engine, then this registry, then a client's
//! details.
//!
//! **Bounds.** The table holds at most `tracking-table-max-keys` keys;
//! past that, keys are forgotten after their clients are told, as Redis
//! does. Entries of clients that stopped tracking or left are dropped
//! lazily (when their key is invalidated), and the whole table when the
//! last tracking client goes.
//!
//! **Leadership.** The table describes reads served by this node. When a
//! node stops being the leader, [`Tracking::invalidate_all`] tells every
//! tracking client to drop its whole cache.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use lattice_engine::cmd::{self, CommandSpec};
use lattice_engine::number::parse_i64;
use lattice_engine::{flags, CmdError, Effect, Reply, WriteOp};

use crate::builtin::arg;
use crate::config::ServerConfig;
use crate::dispatch::Conn;
use crate::pubsub::{ClientSubs, PubSub, Push, Subscriber};
use crate::shared::Core;

/// One tracking client's settings (Redis's `CLIENT_TRACKING_*` flags).
#[derive(Debug, Clone, Default)]
struct Mode {
    /// REDIRECT target (0: none).
    redirect: u64,
    bcast: bool,
    optin: bool,
    optout: bool,
    noloop: bool,
    /// CLIENT CACHING YES (OPTIN) or NO (OPTOUT) for the next command.
    caching: bool,
    /// The REDIRECT target has gone.
    broken_redirect: bool,
    /// BCAST prefixes, in order (TRACKINGINFO lists them so).
    prefixes: BTreeSet<Bytes>,
}

/// Everything behind the registry's lock.
#[derive(Default)]
struct Inner {
    /// Every connection's push queue, by client id: any client can be a
    /// REDIRECT target.
    conns: HashMap<u64, Arc<Subscriber>>,
    /// Clients with tracking on.
    clients: BTreeMap<u64, Mode>,
    /// Key → clients that may cache it (default and OPTIN/OPTOUT modes).
    table: HashMap<Bytes, BTreeSet<u64>>,
    /// Client ids across the table (`tracking_total_items`).
    items: usize,
    /// BCAST prefix → its clients.
    prefixes: BTreeMap<Bytes, BTreeSet<u64>>,
}

/// CLIENT TRACKING's options.
#[derive(Debug, Default)]
struct Options {
    redirect: u64,
    bcast: bool,
    optin: bool,
    optout: bool,
    noloop: bool,
    prefixes: Vec<Bytes>,
}

/// The tracking registry.
pub struct Tracking {
    pubsub: Arc<PubSub>,
    /// Clients with tracking on: the write path's lock-free "nobody" check.
    active: AtomicUsize,
    /// `tracking-table-max-keys` (0: no limit).
    max_keys: AtomicU64,
    inner: Mutex<Inner>,
}

/// Redis's default `tracking-table-max-keys`.
pub const DEFAULT_MAX_KEYS: u64 = 1_000_000;

impl Tracking {
    /// An empty registry delivering through `pubsub`'s queues and limits.
    pub fn new(pubsub: Arc<PubSub>) -> Self {
        Tracking {
            pubsub,
            active: AtomicUsize::new(0),
            max_keys: AtomicU64::new(DEFAULT_MAX_KEYS),
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Takes `tracking-table-max-keys` from `cfg`.
    pub fn configure(&self, cfg: &ServerConfig) {
        self.max_keys
            .store(cfg.tracking_table_max_keys, Ordering::Relaxed);
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers a connection (a possible REDIRECT target).
    fn connect(&self, id: u64, sub: Arc<Subscriber>) {
        self.lock().conns.insert(id, sub);
    }

    /// A connection has gone: its tracking stops; its table entries go
    /// lazily.
    fn disconnect(&self, id: u64) {
        let mut inner = self.lock();
        inner.conns.remove(&id);
        self.disable_in(&mut inner, id);
    }

    fn enable(&self, id: u64, opts: Options) -> Result<(), CmdError> {
        let mut inner = self.lock();
        let current = inner.clients.get(&id);
        if !opts.bcast && !opts.prefixes.is_empty() {
            return Err(CmdError::err(
                "PREFIX option requires BCAST mode to be enabled",
            ));
        }
        if current.is_some_and(|m| m.bcast != opts.bcast) {
            return Err(CmdError::err("You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode."));
        }
        if opts.bcast && (opts.optin || opts.optout) {
            return Err(CmdError::err(
                "OPTIN and OPTOUT are not compatible with BCAST",
            ));
        }
        if opts.optin && opts.optout {
            return Err(CmdError::err(
                "You can't specify both OPTIN mode and OPTOUT mode",
            ));
        }
        if current.is_some_and(|m| (opts.optin && m.optout) || (opts.optout && m.optin)) {
            return Err(CmdError::err("You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode."));
        }
        if opts.bcast {
            check_prefixes(current.map(|m| &m.prefixes), &opts.prefixes)?;
        }
        let Inner {
            clients, prefixes, ..
        } = &mut *inner;
        let mode = clients.entry(id).or_insert_with(|| {
            self.active.fetch_add(1, Ordering::Relaxed);
            Mode::default()
        });
        // As Redis's enableTracking: the mode flags are replaced, the
        // prefixes accumulate, a pending CLIENT CACHING stays.
        mode.redirect = opts.redirect;
        mode.bcast = opts.bcast;
        mode.optin = opts.optin;
        mode.optout = opts.optout;
        mode.noloop = opts.noloop;
        mode.broken_redirect = false;
        if opts.bcast {
            let new = if opts.prefixes.is_empty() {
                vec![Bytes::new()]
            } else {
                opts.prefixes
            };
            for p in new {
                prefixes.entry(p.clone()).or_default().insert(id);
                mode.prefixes.insert(p);
            }
        }
        Ok(())
    }

    fn disable(&self, id: u64) {
        let mut inner = self.lock();
        self.disable_in(&mut inner, id);
    }

    fn disable_in(&self, inner: &mut Inner, id: u64) {
        let Some(mode) = inner.clients.remove(&id) else {
            return;
        };
        for p in &mode.prefixes {
            if let Some(ids) = inner.prefixes.get_mut(p) {
                ids.remove(&id);
                if ids.is_empty() {
                    inner.prefixes.remove(p);
                }
            }
        }
        if self.active.fetch_sub(1, Ordering::Relaxed) == 1 {
            // Nobody tracks any more: nobody can be told about these keys.
            inner.table = HashMap::new();
            inner.items = 0;
        }
    }

    fn set_caching(&self, id: u64, yes: Option<bool>) -> Result<(), CmdError> {
        let mut inner = self.lock();
        let Some(mode) = inner.clients.get_mut(&id) else {
            return Err(CmdError::err("CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled"));
        };
        match yes {
            Some(true) if mode.optin => mode.caching = true,
            Some(true) => {
                return Err(CmdError::err(
                    "CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.",
                ))
            }
            Some(false) if mode.optout => mode.caching = true,
            Some(false) => {
                return Err(CmdError::err(
                    "CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.",
                ))
            }
            None => return Err(CmdError::Syntax),
        }
        Ok(())
    }

    fn clear_caching(&self, id: u64) {
        if let Some(mode) = self.lock().clients.get_mut(&id) {
            mode.caching = false;
        }
    }

    /// CLIENT GETREDIR: the REDIRECT target, 0 for none, -1 when not
    /// tracking.
    pub fn redirect_of(&self, id: u64) -> i64 {
        self.lock()
            .clients
            .get(&id)
            .map_or(-1, |m| i64::try_from(m.redirect).unwrap_or(i64::MAX))
    }

    /// CLIENT TRACKINGINFO.
    pub fn info_of(&self, id: u64) -> Reply {
        let inner = self.lock();
        let mode = inner.clients.get(&id);
        let mut flags = vec![if mode.is_some() { "on" } else { "off" }];
        let mut prefixes = Vec::new();
        if let Some(m) = mode {
            for (set, name) in [
                (m.bcast, "bcast"),
                (m.optin, "optin"),
                (m.optin && m.caching, "caching-yes"),
                (m.optout, "optout"),
                (m.optout && m.caching, "caching-no"),
                (m.noloop, "noloop"),
                (m.broken_redirect, "broken_redirect"),
            ] {
                if set {
                    flags.push(name);
                }
            }
            prefixes = m.prefixes.iter().map(|p| Reply::Bulk(p.clone())).collect();
        }
        let redirect = mode.map_or(-1, |m| i64::try_from(m.redirect).unwrap_or(i64::MAX));
        Reply::Map(vec![
            (
                Reply::bulk(b"flags"),
                Reply::Set(flags.into_iter().map(Reply::bulk_str).collect()),
            ),
            (Reply::bulk(b"redirect"), Reply::Int(redirect)),
            (Reply::bulk(b"prefixes"), Reply::Array(prefixes)),
        ])
    }

    /// CLIENT LIST's view of a client: its tracking flags (`t`, `R`, `B`)
    /// and `redir` (-1 when not tracking).
    pub fn list_fields(&self, id: u64) -> (String, i64) {
        let inner = self.lock();
        let Some(m) = inner.clients.get(&id) else {
            return (String::new(), -1);
        };
        let mut flags = String::from("t");
        if m.broken_redirect {
            flags.push('R');
        }
        if m.bcast {
            flags.push('B');
        }
        (flags, i64::try_from(m.redirect).unwrap_or(i64::MAX))
    }

    /// `(tracking_clients, tracking_total_keys, tracking_total_items,
    /// tracking_total_prefixes)` for INFO.
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        let inner = self.lock();
        (
            inner.clients.len(),
            inner.table.len(),
            inner.items,
            inner.prefixes.len(),
        )
    }

    /// Remembers the keys `client` read with `args`, if it tracks them in
    /// this mode (Redis's `trackingRememberKeys`). The caller holds the
    /// engine lock.
    pub fn remember(&self, client: u64, spec: &CommandSpec, args: &[Bytes]) {
        if self.active.load(Ordering::Relaxed) == 0 {
            return;
        }
        let mut inner = self.lock();
        self.remember_in(&mut inner, client, spec, args);
        self.limit(&mut inner);
    }

    fn remember_in(&self, inner: &mut Inner, client: u64, spec: &CommandSpec, args: &[Bytes]) {
        let Some(m) = inner.clients.get(&client) else {
            return;
        };
        if m.bcast || (m.optin && !m.caching) || (m.optout && m.caching) {
            return;
        }
        if spec.flags & flags::READONLY == 0 || spec.flags & flags::PUBSUB != 0 {
            return;
        }
        for pos in spec.key_positions(args) {
            let Some(key) = args.get(pos) else { continue };
            if inner.table.entry(key.clone()).or_default().insert(client) {
                inner.items += 1;
            }
        }
    }

    /// Forgets keys past `tracking-table-max-keys`, telling their clients
    /// (Redis's `trackingLimitUsedSlots`).
    fn limit(&self, inner: &mut Inner) {
        let max = usize::try_from(self.max_keys.load(Ordering::Relaxed)).unwrap_or(usize::MAX);
        if max == 0 {
            return;
        }
        while inner.table.len() > max {
            let Some(key) = inner.table.keys().next().cloned() else {
                return;
            };
            self.invalidate_key(inner, &key, None);
        }
    }

    /// Carries out an applied write's effects (called from `Core::apply`
    /// beside the keyspace notifications): remembers the keys of the reads
    /// in `writer`'s transaction, then invalidates modified keys and
    /// flushes. `writer` is the client whose command this is
    /// (`INTERNAL_CLIENT` for expiry and eviction), for NOLOOP.
    pub fn after_apply(&self, op: &WriteOp, effects: &[Effect], writer: u64) {
        if self.active.load(Ordering::Relaxed) == 0 {
            return;
        }
        let mut inner = self.lock();
        // Reads in a transaction first: a write anywhere in the same batch
        // then invalidates what they returned (at worst once too often).
        if let WriteOp::Batch { cmds, .. } = op {
            if inner.clients.contains_key(&writer) {
                for (_, args) in cmds {
                    if let Ok(r) = cmd::resolve(args) {
                        self.remember_in(&mut inner, writer, r.spec, args);
                    }
                }
                self.limit(&mut inner);
            }
        }
        let mut broadcast = BTreeSet::new();
        let mut flushed = false;
        for e in effects {
            match e {
                Effect::Modified { key, .. } => {
                    if !inner.prefixes.is_empty() {
                        broadcast.insert(key.clone());
                    }
                    self.invalidate_key(&mut inner, key, Some(writer));
                }
                Effect::Flushed { .. } if !flushed => {
                    flushed = true;
                    self.flush_in(&mut inner);
                }
                _ => {}
            }
        }
        if !broadcast.is_empty() {
            self.broadcast(&mut inner, &broadcast, writer);
        }
    }

    /// Tells every tracking client to drop its whole cache and forgets
    /// every remembered key. The hook for a node that loses leadership:
    /// reads will be served elsewhere, so this node's table no longer
    /// covers what clients cache.
    pub fn invalidate_all(&self) {
        let mut inner = self.lock();
        self.flush_in(&mut inner);
    }

    /// Sends the key's clients (default mode) one invalidation each and
    /// forgets them (Redis's `trackingInvalidateKey`).
    fn invalidate_key(&self, inner: &mut Inner, key: &Bytes, writer: Option<u64>) {
        let Some(ids) = inner.table.remove(key) else {
            return;
        };
        inner.items = inner.items.saturating_sub(ids.len());
        let keys: Arc<[Bytes]> = Arc::from(vec![key.clone()]);
        let Inner { conns, clients, .. } = inner;
        for id in ids {
            let Some(mode) = clients.get_mut(&id) else {
                continue;
            };
            if mode.bcast || (mode.noloop && writer == Some(id)) {
                continue;
            }
            self.send(conns, id, mode, Some(keys.clone()));
        }
    }

    /// BCAST: one message per prefix with the written keys under it
    /// (Redis's `trackingBroadcastInvalidationMessages`).
    fn broadcast(&self, inner: &mut Inner, keys: &BTreeSet<Bytes>, writer: u64) {
        let Inner {
            conns,
            clients,
            prefixes,
            ..
        } = inner;
        for (prefix, ids) in prefixes.iter() {
            let under: Vec<Bytes> = keys
                .range(prefix.clone()..)
                .take_while(|k| k.starts_with(prefix))
                .cloned()
                .collect();
            if under.is_empty() {
                continue;
            }
            let under: Arc<[Bytes]> = Arc::from(under);
            for id in ids {
                let Some(mode) = clients.get_mut(id) else {
                    continue;
                };
                // All the keys of one apply come from one writer.
                if mode.noloop && *id == writer {
                    continue;
                }
                self.send(conns, *id, mode, Some(under.clone()));
            }
        }
    }

    /// A null to every tracking client; the table is emptied (Redis's
    /// `trackingInvalidateKeysOnFlush`).
    fn flush_in(&self, inner: &mut Inner) {
        let Inner { conns, clients, .. } = inner;
        for (id, mode) in clients.iter_mut() {
            self.send(conns, *id, mode, None);
        }
        inner.table = HashMap::new();
        inner.items = 0;
    }

    /// Delivers one invalidation for `id` (Redis's `sendTrackingMessage`).
    fn send(
        &self,
        conns: &HashMap<u64, Arc<Subscriber>>,
        id: u64,
        mode: &mut Mode,
        keys: Option<Arc<[Bytes]>>,
    ) {
        let redirected = mode.redirect != 0;
        let target = if redirected {
            let Some(t) = conns.get(&mode.redirect) else {
                mode.broken_redirect = true;
                if let Some(own) = conns.get(&id) {
                    if own.handle().info().resp == 3 {
                        own.send(&self.pubsub, Push::RedirBroken { id: mode.redirect });
                    }
                }
                return;
            };
            t
        } else {
            let Some(t) = conns.get(&id) else { return };
            t
        };
        let (resp3, subscribed) = {
            let info = target.handle().info();
            (info.resp == 3, info.sub + info.psub + info.ssub > 0)
        };
        if resp3 || (redirected && subscribed) {
            target.send(&self.pubsub, Push::Invalidate { keys });
        }
    }
}

/// Whether two prefixes would both match some key (one starts the other).
fn overlap(a: &[u8], b: &[u8]) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

/// Redis's `checkPrefixCollisionsOrReply`: a client's prefixes must not
/// overlap, among themselves or with those it has.
fn check_prefixes(existing: Option<&BTreeSet<Bytes>>, new: &[Bytes]) -> Result<(), CmdError> {
    let text = |b: &Bytes| String::from_utf8_lossy(b).into_owned();
    for (i, p) in new.iter().enumerate() {
        if let Some(old) = existing.and_then(|e| e.iter().find(|o| overlap(o, p))) {
            return Err(CmdError::err(format!(
                "Prefix '{}' overlaps with an existing prefix '{}'. Prefixes for a single client must not overlap.",
                text(p),
                text(old)
            )));
        }
        if let Some(other) = new.iter().skip(i + 1).find(|o| overlap(o, p)) {
            return Err(CmdError::err(format!(
                "Prefix '{}' overlaps with another provided prefix '{}'. Prefixes for a single client must not overlap.",
                text(p),
                text(other)
            )));
        }
    }
    Ok(())
}

/// A connection's side of tracking: it registers the connection as a
/// possible REDIRECT target and, dropped, stops its tracking. It mirrors
/// what the connection checks on every command, so a client that does
/// not track never takes the registry's lock.
pub struct ClientTracking {
    reg: Arc<Tracking>,
    id: u64,
    on: bool,
    caching: bool,
}

impl ClientTracking {
    /// Registers the connection whose push queue `subs` feeds.
    pub fn new(reg: Arc<Tracking>, subs: &ClientSubs) -> Self {
        let sub = subs.subscriber();
        let id = sub.handle().id;
        reg.connect(id, sub);
        ClientTracking {
            reg,
            id,
            on: false,
            caching: false,
        }
    }

    /// Tracking is on.
    pub fn on(&self) -> bool {
        self.on
    }

    /// After each command: CLIENT CACHING holds for one command, or for a
    /// whole transaction (Redis's `resetClient`); CLIENT subcommands keep
    /// it.
    pub fn after_command(&mut self, was_client: bool, in_multi: bool) {
        if self.caching && !was_client && !in_multi {
            self.caching = false;
            self.reg.clear_caching(self.id);
        }
    }
}

impl Drop for ClientTracking {
    fn drop(&mut self) {
        self.reg.disconnect(self.id);
    }
}

/// Runs an engine read on the applied state: publishes its keyspace
/// notifications (`keymiss`) and remembers the keys for a tracking client,
/// in the critical section of the read.
pub async fn read(
    conn: &Conn,
    resolved: &lattice_engine::cmd::Resolved,
    args: &[Bytes],
    now: u64,
    seed: u64,
) -> Reply {
    let mut core = match conn.shared.core_for(resolved, args).await {
        Ok(c) => c,
        Err(e) => return Reply::Error(e),
    };
    read_locked(
        &mut core,
        &conn.tracking,
        resolved.spec,
        conn.db,
        args,
        now,
        seed,
    )
}

/// [`read`] for a caller that holds the engine lock (a transaction of
/// reads), in database `db`.
pub fn read_locked(
    core: &mut Core,
    client: &ClientTracking,
    spec: &CommandSpec,
    db: usize,
    args: &[Bytes],
    now: u64,
    seed: u64,
) -> Reply {
    let done = core.engine.read(spec, db, args, now, seed);
    core.pubsub.notify_effects(&done.effects);
    if client.on {
        core.tracking.remember(client.id, spec, args);
    }
    done.reply
}

impl Core {
    /// Applies a write on behalf of `client` (`INTERNAL_CLIENT` for the
    /// server's own writes), so tracking's NOLOOP knows who wrote.
    pub fn apply_as(&mut self, client: u64, op: &WriteOp, allow_block: bool) -> Reply {
        self.current_client = client;
        let reply = self.apply(op, allow_block);
        self.current_client = lattice_raft::INTERNAL_CLIENT;
        reply
    }
}

/// CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX p …] [BCAST] [OPTIN]
/// [OPTOUT] [NOLOOP], with Redis's checks in Redis's order.
pub fn tracking_command(conn: &mut Conn, args: &[Bytes]) -> Result<Reply, CmdError> {
    let reg = conn.shared.tracking.clone();
    let mut opts = Options::default();
    let mut i = 3;
    while i < args.len() {
        let more = i + 1 < args.len();
        match arg(args, i).to_ascii_lowercase().as_slice() {
            b"redirect" if more => {
                i += 1;
                if opts.redirect != 0 {
                    return Err(CmdError::err(
                        "A client can only redirect to a single other client",
                    ));
                }
                let id = parse_i64(arg(args, i)).ok_or(CmdError::NotInteger)?;
                // Redis reads the id as an unsigned number.
                opts.redirect = id as u64;
                if !reg.lock().conns.contains_key(&opts.redirect) {
                    return Err(CmdError::err(
                        "The client ID you want redirect to does not exist",
                    ));
                }
            }
            b"bcast" => opts.bcast = true,
            b"optin" => opts.optin = true,
            b"optout" => opts.optout = true,
            b"noloop" => opts.noloop = true,
            b"prefix" if more => {
                i += 1;
                opts.prefixes.push(args.get(i).cloned().unwrap_or_default());
            }
            _ => return Err(CmdError::Syntax),
        }
        i += 1;
    }
    match arg(args, 2).to_ascii_lowercase().as_slice() {
        b"on" => {
            reg.enable(conn.handle.id, opts)?;
            conn.tracking.on = true;
        }
        b"off" => {
            reg.disable(conn.handle.id);
            conn.tracking.on = false;
            conn.tracking.caching = false;
        }
        _ => return Err(CmdError::Syntax),
    }
    Ok(Reply::Ok)
}

/// CLIENT CACHING YES|NO.
pub fn caching_command(conn: &mut Conn, args: &[Bytes]) -> Result<Reply, CmdError> {
    let yes = match arg(args, 2).to_ascii_lowercase().as_slice() {
        b"yes" => Some(true),
        b"no" => Some(false),
        _ => None,
    };
    conn.shared.tracking.set_caching(conn.handle.id, yes)?;
    conn.tracking.caching = true;
    Ok(Reply::Ok)
}

/// RESET: tracking off.
pub fn reset(conn: &mut Conn) {
    conn.shared.tracking.disable(conn.handle.id);
    conn.tracking.on = false;
    conn.tracking.caching = false;
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::pubsub::PushQueue;
    use crate::shared::ClientHandle;
    use bytes::BytesMut;
    use lattice_resp::encode::Version;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    /// A registry and connections 1..=n with their push queues (RESP3).
    fn setup(n: u64) -> (Arc<Tracking>, Vec<(ClientSubs, PushQueue)>) {
        let ps = Arc::new(PubSub::new(&ServerConfig::default()));
        let reg = Arc::new(Tracking::new(ps.clone()));
        let addr: std::net::SocketAddr = "127.0.0.1:1".parse().unwrap();
        let mut conns = Vec::new();
        for id in 1..=n {
            let handle = Arc::new(ClientHandle {
                id,
                addr,
                laddr: addr,
                created: std::time::Instant::now(),
                last_active: Mutex::new(std::time::Instant::now()),
                info: Mutex::new(crate::shared::ClientInfo {
                    resp: 3,
                    ..Default::default()
                }),
                killed: Default::default(),
                kill_notify: Default::default(),
            });
            let (subs, queue) = crate::pubsub::client(ps.clone(), handle);
            reg.connect(id, subs.subscriber());
            conns.push((subs, queue));
        }
        (reg, conns)
    }

    fn pushes(conns: &mut [(ClientSubs, PushQueue)], id: u64) -> Vec<u8> {
        let mut out = BytesMut::new();
        if let Some((_, q)) = conns.get_mut(id as usize - 1) {
            q.drain(None, &mut out, Version::Resp3);
        }
        out.to_vec()
    }

    fn get() -> &'static CommandSpec {
        cmd::lookup(b"get").unwrap()
    }

    fn set_op(key: &str) -> (WriteOp, Vec<Effect>) {
        let op = WriteOp::Command {
            db: 0,
            args: vec![b("SET"), b(key), b("v")],
            time_ms: 0,
            seed: 0,
        };
        (op, vec![Effect::Modified { db: 0, key: b(key) }])
    }

    const INVALIDATE_K: &[u8] = b">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n";

    #[test]
    fn a_read_key_is_invalidated_once_then_forgotten() {
        let (reg, mut conns) = setup(2);
        reg.enable(1, Options::default()).unwrap();
        reg.remember(1, get(), &[b("GET"), b("k")]);
        reg.remember(1, get(), &[b("GET"), b("k")]);
        assert_eq!(reg.counts(), (1, 1, 1, 0));
        let (op, fx) = set_op("k");
        reg.after_apply(&op, &fx, 2);
        assert_eq!(pushes(&mut conns, 1), INVALIDATE_K);
        assert_eq!(reg.counts(), (1, 0, 0, 0));
        reg.after_apply(&op, &fx, 2);
        assert!(pushes(&mut conns, 1).is_empty());
        // Writes are not remembered.
        let set = cmd::lookup(b"set").unwrap();
        reg.remember(1, set, &[b("SET"), b("k"), b("v")]);
        assert_eq!(reg.counts().1, 0);
    }

    #[test]
    fn noloop_skips_own_writes_but_still_forgets() {
        let (reg, mut conns) = setup(2);
        let noloop = Options {
            noloop: true,
            ..Default::default()
        };
        reg.enable(1, noloop).unwrap();
        reg.remember(1, get(), &[b("GET"), b("k")]);
        let (op, fx) = set_op("k");
        reg.after_apply(&op, &fx, 1);
        assert!(pushes(&mut conns, 1).is_empty());
        assert_eq!(reg.counts().1, 0);
    }

    #[test]
    fn optin_and_optout_follow_client_caching() {
        let (reg, _conns) = setup(1);
        let optin = Options {
            optin: true,
            ..Default::default()
        };
        reg.enable(1, optin).unwrap();
        reg.remember(1, get(), &[b("GET"), b("a")]);
        assert_eq!(reg.counts().1, 0);
        reg.set_caching(1, Some(true)).unwrap();
        reg.remember(1, get(), &[b("GET"), b("a")]);
        assert_eq!(reg.counts().1, 1);
        assert!(reg.set_caching(1, Some(false)).is_err());
        reg.disable(1);
        let optout = Options {
            optout: true,
            ..Default::default()
        };
        reg.enable(1, optout).unwrap();
        reg.remember(1, get(), &[b("GET"), b("b")]);
        assert_eq!(reg.counts().1, 1);
        reg.set_caching(1, Some(false)).unwrap();
        reg.remember(1, get(), &[b("GET"), b("c")]);
        assert_eq!(reg.counts().1, 1);
    }

    #[test]
    fn bcast_sends_sorted_keys_per_prefix() {
        let (reg, mut conns) = setup(2);
        let bcast = Options {
            bcast: true,
            prefixes: vec![b("x"), b("y")],
            ..Default::default()
        };
        reg.enable(1, bcast).unwrap();
        assert_eq!(reg.counts(), (1, 0, 0, 2));
        let op = WriteOp::Command {
            db: 0,
            args: vec![b("MSET")],
            time_ms: 0,
            seed: 0,
        };
        let fx: Vec<Effect> = ["x2", "y1", "x1", "z"]
            .iter()
            .map(|k| Effect::Modified { db: 0, key: b(k) })
            .collect();
        reg.after_apply(&op, &fx, 2);
        assert_eq!(
            pushes(&mut conns, 1),
            b">2\r\n$10\r\ninvalidate\r\n*2\r\n$2\r\nx1\r\n$2\r\nx2\r\n>2\r\n$10\r\ninvalidate\r\n*1\r\n$2\r\ny1\r\n"
        );
        reg.disable(1);
        assert_eq!(reg.counts(), (0, 0, 0, 0));
    }

    #[test]
    fn prefixes_must_not_overlap() {
        let (reg, _conns) = setup(1);
        let opts = |p: &[&str]| Options {
            bcast: true,
            prefixes: p.iter().map(|s| b(s)).collect(),
            ..Default::default()
        };
        assert_eq!(
            reg.enable(1, opts(&["ab", "a"])).unwrap_err().wire_text(),
            "ERR Prefix 'ab' overlaps with another provided prefix 'a'. Prefixes for a single client must not overlap."
        );
        reg.enable(1, opts(&["a"])).unwrap();
        assert_eq!(
            reg.enable(1, opts(&["abc"])).unwrap_err().wire_text(),
            "ERR Prefix 'abc' overlaps with an existing prefix 'a'. Prefixes for a single client must not overlap."
        );
        reg.enable(1, opts(&["b"])).unwrap();
        assert_eq!(reg.counts().3, 2);
    }

    #[test]
    fn flush_and_invalidate_all_send_null_to_everyone() {
        let (reg, mut conns) = setup(2);
        reg.enable(1, Options::default()).unwrap();
        reg.enable(
            2,
            Options {
                bcast: true,
                ..Default::default()
            },
        )
        .unwrap();
        reg.remember(1, get(), &[b("GET"), b("k")]);
        let op = WriteOp::Command {
            db: 0,
            args: vec![b("SWAPDB"), b("0"), b("1")],
            time_ms: 0,
            seed: 0,
        };
        let fx = [
            Effect::Flushed { db: Some(0) },
            Effect::Flushed { db: Some(1) },
        ];
        reg.after_apply(&op, &fx, 1);
        let null = b">2\r\n$10\r\ninvalidate\r\n_\r\n";
        assert_eq!(pushes(&mut conns, 1), null);
        assert_eq!(pushes(&mut conns, 2), null);
        assert_eq!(reg.counts().1, 0);
        reg.invalidate_all();
        assert_eq!(pushes(&mut conns, 1), null);
        assert_eq!(pushes(&mut conns, 2), null);
    }

    #[test]
    fn redirect_goes_to_the_target_and_breaks_when_it_leaves() {
        let (reg, mut conns) = setup(2);
        reg.enable(
            1,
            Options {
                redirect: 2,
                ..Default::default()
            },
        )
        .unwrap();
        reg.remember(1, get(), &[b("GET"), b("k")]);
        let (op, fx) = set_op("k");
        reg.after_apply(&op, &fx, 0);
        assert!(pushes(&mut conns, 1).is_empty());
        assert_eq!(pushes(&mut conns, 2), INVALIDATE_K);
        reg.disconnect(2);
        reg.remember(1, get(), &[b("GET"), b("k")]);
        reg.after_apply(&op, &fx, 0);
        assert_eq!(
            pushes(&mut conns, 1),
            b">2\r\n$21\r\ntracking-redir-broken\r\n:2\r\n"
        );
        assert_eq!(reg.list_fields(1), ("tR".to_string(), 2));
    }

    #[test]
    fn the_table_is_bounded() {
        let (reg, mut conns) = setup(1);
        reg.max_keys.store(2, Ordering::Relaxed);
        reg.enable(1, Options::default()).unwrap();
        for k in ["a", "b", "c"] {
            reg.remember(1, get(), &[b("GET"), b(k)]);
        }
        assert_eq!(reg.counts().1, 2);
        // The forgotten key's client was told.
        assert!(!pushes(&mut conns, 1).is_empty());
    }
}
