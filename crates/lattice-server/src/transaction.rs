//! MULTI, EXEC, DISCARD, WATCH and UNWATCH with Redis 7.0's semantics
//! (`multi.c`), and the WATCH registry ([`Watches`]) that lives in `Core`.
//!
//! **Queueing.** While a connection is in MULTI, dispatch runs the checks
//! Redis runs before queueing (existence, arity, NOAUTH, OOM, `no_multi`,
//! the DEBUG policy); a failed check answers its error and flags the
//! transaction ([`reject`]), so EXEC answers EXECABORT. Every command but
//! EXEC/DISCARD/MULTI/WATCH/QUIT/RESET is then queued ([`queue`]) as:
//! * an engine command (read or write) with the database it will run in —
//!   SELECT inside MULTI changes it for the commands queued after it;
//! * SELECT itself, resolved at queue time (the number of databases is
//!   fixed), applied to the connection when EXEC reaches it;
//! * UNWATCH, whose reply is `+OK` (EXEC unwatches before running anything);
//! * a server-layer command (PING, INFO, CLIENT …), run at EXEC time.
//!
//! **Execution.** Consecutive engine commands form one `WriteOp::Batch`,
//! one log command applied at one time, with blocking commands answering at
//! once. EXEC's WATCH check happens inside the state machine's apply of that
//! command (`Core::run`), in log order, so replaying the log aborts exactly
//! the transactions the live run aborted; WATCH and UNWATCH are log commands
//! for the same reason. A transaction of reads only (and no WATCH) runs on
//! the applied state without touching the log. When server-layer commands are
//! interleaved, each run of engine commands is its own batch and the
//! server-layer commands run between them; the EXEC holds
//! `Shared::isolation` exclusively meanwhile (every other command runs under
//! its read guard), so nothing interleaves with the transaction.
//!
//! **WATCH.** [`Watches`] maps each watched (db, key) to its watchers and is
//! touched from `Core::apply` by every applied write's effects — client
//! writes, transactions, active expiry, eviction and served blocked clients
//! all go through it. `Modified` marks the key's watchers dirty; `Flushed`
//! marks the watchers of keys that existed before the flush or exist after a
//! swap. As in Redis 7.0, a key already expired when WATCHed is "logically
//! absent": its deletion is no change, only its re-creation is; and a key
//! that expires between WATCH and EXEC fails the EXEC. A dirty client's keys
//! are forgotten at once (only its dirty flag stays), so the registry holds
//! at most the keys clients are watching.

use std::collections::{HashMap, HashSet};

use bytes::{Bytes, BytesMut};
use lattice_engine::cmd::Resolved;
use lattice_engine::number::parse_i64;
use lattice_engine::{flags, CmdError, Effect, Engine, EventClass, Reply, WriteOp};

use crate::builtin;
use crate::config::DebugPolicy;
use crate::dispatch::{reply, Conn, Control};
use crate::shared::unix_ms;
use lattice_raft::{Command, Outcome};

/// A connection's transaction state.
#[derive(Debug, Default)]
pub struct Tx {
    multi: Option<Multi>,
}

/// An open MULTI.
#[derive(Debug)]
struct Multi {
    /// Queued commands (none are kept once the transaction is flagged).
    items: Vec<Item>,
    /// A command failed before queueing: EXEC answers EXECABORT.
    failed: bool,
    /// The database the next queued command runs in.
    db: usize,
    /// Union of the queued commands' flags (EXEC's OOM and pause rules).
    flags: u32,
}

/// One queued command.
#[derive(Debug)]
enum Item {
    /// Runs in the engine, in database `db`.
    Engine { db: usize, args: Vec<Bytes> },
    /// SELECT to a valid database.
    Select(usize),
    /// A reply known when queueing (a SELECT error, UNWATCH).
    Fixed(Reply),
    /// A server-layer command.
    Server {
        resolved: Resolved,
        args: Vec<Bytes>,
    },
}

/// What one queued command contributes to EXEC's reply, in order.
enum Slot {
    /// The next reply of the engine batch.
    Engine,
    /// SELECT: switch the connection's database, answer `+OK`.
    Select(usize),
    /// A known reply.
    Fixed(Reply),
}

impl Tx {
    /// True between MULTI and EXEC/DISCARD.
    pub fn in_multi(&self) -> bool {
        self.multi.is_some()
    }

    /// Whether this command is queued rather than run (Redis runs EXEC,
    /// DISCARD, MULTI, WATCH, QUIT and RESET even inside MULTI).
    pub fn queues(&self, r: &Resolved) -> bool {
        self.multi.is_some()
            && (r.parent.is_some()
                || !matches!(
                    r.spec.name,
                    "exec" | "discard" | "multi" | "watch" | "quit" | "reset"
                ))
    }
}

fn is_top(r: &Resolved, name: &str) -> bool {
    r.parent.is_none() && r.spec.name == name
}

/// The memory rule for a command: (evict first, refuse with OOM if still
/// over). Outside MULTI: writes and `denyoom` commands evict, `denyoom` ones
/// are refused. Inside MULTI, Redis refuses every command being queued (a
/// queue may grow without bound) but never DISCARD, QUIT or RESET, and EXEC
/// only when it holds a `denyoom` command.
pub fn memory_rule(conn: &Conn, r: &Resolved) -> (bool, bool) {
    let denyoom = r.spec.flags & flags::DENYOOM != 0;
    let own = (denyoom || r.spec.is_write(), denyoom);
    let Some(m) = &conn.tx.multi else { return own };
    if is_top(r, "exec") {
        let queued_deny = m.flags & flags::DENYOOM != 0;
        (queued_deny || m.flags & flags::WRITE != 0, queued_deny)
    } else if is_top(r, "discard") || is_top(r, "quit") || is_top(r, "reset") {
        own
    } else {
        (true, true)
    }
}

/// True for an EXEC whose queue holds a write (CLIENT PAUSE WRITE holds it).
pub fn exec_writes(conn: &Conn, r: &Resolved) -> bool {
    is_top(r, "exec")
        && conn
            .tx
            .multi
            .as_ref()
            .is_some_and(|m| m.flags & flags::WRITE != 0)
}

/// A command refused before it ran (unknown, arity, NOAUTH, OOM …), as
/// Redis's `rejectCommand`: inside MULTI it flags the transaction; a refused
/// EXEC discards the transaction and answers EXECABORT with the reason.
pub fn reject(conn: &mut Conn, args: &[Bytes], e: CmdError, out: &mut BytesMut) -> Control {
    if args
        .first()
        .is_some_and(|n| n.eq_ignore_ascii_case(b"exec"))
    {
        discard_state(conn);
        let text = e.wire_text();
        let reason = text.strip_prefix("ERR ").unwrap_or(&text);
        let abort = CmdError::Other(format!(
            "EXECABORT Transaction discarded because of: {reason}"
        ));
        return reply(conn, out, Reply::Error(abort));
    }
    if let Some(m) = conn.tx.multi.as_mut() {
        m.failed = true;
    }
    reply(conn, out, Reply::Error(e))
}

/// Leaves MULTI and forgets the client's watched keys.
fn discard_state(conn: &mut Conn) {
    conn.tx.multi = None;
    forget_watches(conn);
}

/// UNWATCH through the log (WATCH state decides what a logged EXEC does,
/// so it changes only in log order). Not awaited: whatever this client
/// submits next is ordered after it anyway.
fn forget_watches(conn: &Conn) {
    let id = conn.handle.id;
    if conn.shared.core().watches.is_watching(id) {
        conn.shared.submit(Command::Unwatch { client: id });
    }
}

/// RESET (and anything else that drops the connection state): no MULTI, no
/// watched keys.
pub fn reset(conn: &mut Conn) {
    discard_state(conn);
}

/// MULTI.
pub fn multi(conn: &mut Conn) -> Result<Reply, CmdError> {
    if conn.tx.multi.is_some() {
        return Err(CmdError::err("MULTI calls can not be nested"));
    }
    conn.tx.multi = Some(Multi {
        items: Vec::new(),
        failed: false,
        db: conn.db,
        flags: 0,
    });
    Ok(Reply::Ok)
}

/// True if `r` is an EXEC that will run server-layer commands between
/// engine runs (it must hold `Shared::isolation` exclusively).
pub fn is_mixed_exec(conn: &Conn, r: &Resolved) -> bool {
    is_top(r, "exec")
        && conn
            .tx
            .multi
            .as_ref()
            .is_some_and(|m| !m.failed && m.items.iter().any(|i| matches!(i, Item::Server { .. })))
}

/// DISCARD.
pub fn discard(conn: &mut Conn) -> Result<Reply, CmdError> {
    if conn.tx.multi.is_none() {
        return Err(CmdError::err("DISCARD without MULTI"));
    }
    discard_state(conn);
    Ok(Reply::Ok)
}

/// WATCH key [key …]: a log command, so the EXEC check is deterministic.
pub async fn watch(conn: &mut Conn, args: &[Bytes]) -> Result<Reply, CmdError> {
    // Not a rejection: Redis answers the error without flagging the transaction.
    if conn.tx.multi.is_some() {
        return Err(CmdError::err("WATCH inside MULTI is not allowed"));
    }
    let keys = args.get(1..).unwrap_or_default().to_vec();
    let cmd = Command::Watch {
        client: conn.handle.id,
        db: conn.db,
        keys,
        time_ms: unix_ms(),
    };
    match conn.shared.propose(cmd).await? {
        Outcome::Reply(r) => Ok(r),
        Outcome::Blocked { .. } => Ok(Reply::Ok),
    }
}

/// UNWATCH (outside MULTI; inside, it is queued and answers `+OK`).
pub fn unwatch(conn: &mut Conn) -> Result<Reply, CmdError> {
    forget_watches(conn);
    Ok(Reply::Ok)
}

fn debug_allowed(conn: &Conn) -> bool {
    match conn.shared.config().enable_debug_command {
        DebugPolicy::Yes => true,
        DebugPolicy::Local => conn.is_local,
        DebugPolicy::No => false,
    }
}

/// Queues a command inside MULTI and answers `+QUEUED`, or refuses it.
pub fn queue(conn: &mut Conn, r: &Resolved, args: Vec<Bytes>, out: &mut BytesMut) -> Control {
    let no_multi = r.spec.flags & flags::NO_MULTI != 0
        || r.parent.is_some_and(|p| p.flags & flags::NO_MULTI != 0);
    if no_multi {
        return reject(
            conn,
            &args,
            CmdError::err("Command not allowed inside a transaction"),
            out,
        );
    }
    // Redis refuses a protected command (DEBUG) before queueing it.
    if r.parent.is_some_and(|p| p.name == "debug") && !debug_allowed(conn) {
        return reject(conn, &args, CmdError::err("DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server."), out);
    }
    let databases = conn.shared.config().engine.databases;
    if let Some(m) = conn.tx.multi.as_mut() {
        // An aborted transaction keeps nothing: EXEC will only discard it.
        if !m.failed {
            m.flags |= r.spec.flags;
            let item = if is_top(r, "select") {
                match select_target(args.get(1).map_or(&[][..], |a| &a[..]), databases) {
                    Ok(db) => {
                        m.db = db;
                        Item::Select(db)
                    }
                    Err(e) => Item::Fixed(Reply::Error(e)),
                }
            } else if is_top(r, "unwatch") {
                Item::Fixed(Reply::Ok)
            } else if r.spec.handler.is_some() {
                Item::Engine { db: m.db, args }
            } else {
                Item::Server { resolved: *r, args }
            };
            m.items.push(item);
        }
    }
    reply(conn, out, Reply::Status("QUEUED".into()))
}

/// SELECT's validation, as the server-layer SELECT does it.
fn select_target(raw: &[u8], databases: usize) -> Result<usize, CmdError> {
    let n = parse_i64(raw).ok_or(CmdError::NotInteger)?;
    if n < 0 || n >= databases as i64 {
        return Err(CmdError::DbIndexOutOfRange);
    }
    Ok(n as usize)
}

/// EXEC.
pub async fn exec(conn: &mut Conn, out: &mut BytesMut) -> Control {
    let Some(multi) = conn.tx.multi.take() else {
        return reply(conn, out, Reply::Error(CmdError::err("EXEC without MULTI")));
    };
    let shared = conn.shared.clone();
    let id = conn.handle.id;
    if multi.failed {
        forget_watches(conn);
        return reply(
            conn,
            out,
            Reply::Error(CmdError::Other(
                "EXECABORT Transaction discarded because of previous errors.".into(),
            )),
        );
    }
    // One time for the whole transaction, as Redis.
    let now = unix_ms();
    let watching = shared.core().watches.is_watching(id);
    let mixed = multi.items.iter().any(|i| matches!(i, Item::Server { .. }));
    if !mixed {
        let mut cmds = Vec::new();
        let mut slots = Vec::with_capacity(multi.items.len());
        for item in multi.items {
            push_slot(item, &mut cmds, &mut slots);
        }
        let replies = if cmds.is_empty() && !watching {
            Some(Vec::new())
        } else if multi.flags & flags::WRITE == 0 && !watching {
            // Reads only: nothing to log; run them on the applied state in
            // one critical section.
            let mut core = shared.core();
            let seed = shared.next_seed();
            Some(
                cmds.iter()
                    .map(|(db, args)| match lattice_engine::cmd::resolve(args) {
                        Ok(r) => crate::tracking::read_locked(
                            &mut core,
                            &conn.tracking,
                            r.spec,
                            *db,
                            args,
                            now,
                            seed,
                        ),
                        Err(e) => Reply::Error(e),
                    })
                    .collect(),
            )
        } else {
            // The WATCH check and the batch are one log command.
            let op = WriteOp::Batch {
                cmds,
                time_ms: now,
                seed: shared.next_seed(),
            };
            match shared.propose(Command::Write { client: id, op }).await {
                Ok(Outcome::Reply(Reply::NilArray)) => None,
                Ok(Outcome::Reply(r)) => Some(into_replies(r)),
                Ok(Outcome::Blocked { .. }) => Some(Vec::new()),
                Err(e) => return reply(conn, out, Reply::Error(e)),
            }
        };
        let Some(replies) = replies else {
            return reply(conn, out, Reply::NilArray);
        };
        lattice_resp::encode::array_header(out, slots.len());
        emit(conn, out, slots, replies);
        return Control::Continue;
    }
    if watching {
        // The WATCH check first, as its own (empty) batch.
        let op = WriteOp::Batch {
            cmds: Vec::new(),
            time_ms: now,
            seed: 0,
        };
        match shared.propose(Command::Write { client: id, op }).await {
            Ok(Outcome::Reply(Reply::NilArray)) => return reply(conn, out, Reply::NilArray),
            Err(e) => return reply(conn, out, Reply::Error(e)),
            Ok(_) => {}
        }
    }
    lattice_resp::encode::array_header(out, multi.items.len());
    run_mixed(conn, out, multi.items, now).await
}

fn push_slot(item: Item, cmds: &mut Vec<(usize, Vec<Bytes>)>, slots: &mut Vec<Slot>) {
    match item {
        Item::Engine { db, args } => {
            cmds.push((db, args));
            slots.push(Slot::Engine);
        }
        Item::Select(db) => slots.push(Slot::Select(db)),
        Item::Fixed(r) => slots.push(Slot::Fixed(r)),
        // Callers handle server-layer commands before calling this.
        Item::Server { .. } => slots.push(Slot::Fixed(Reply::Error(CmdError::err(
            "server-layer command out of place in a transaction",
        )))),
    }
}

fn into_replies(r: Reply) -> Vec<Reply> {
    match r {
        Reply::Array(v) => v,
        other => vec![other],
    }
}

/// Writes the replies of a run of slots, applying queued SELECTs.
fn emit(conn: &mut Conn, out: &mut BytesMut, slots: Vec<Slot>, replies: Vec<Reply>) {
    let mut replies = replies.into_iter();
    for slot in slots {
        let r = match slot {
            Slot::Engine => replies.next().unwrap_or(Reply::Nil),
            Slot::Select(db) => {
                conn.db = db;
                conn.handle.info().db = db;
                Reply::Ok
            }
            Slot::Fixed(r) => r,
        };
        reply(conn, out, r);
    }
}

/// Runs a transaction with server-layer commands: runs of engine commands
/// become batches (one log command each), server-layer commands run in
/// between, in queue order, under the exclusive isolation guard that
/// dispatch took for this EXEC.
async fn run_mixed(conn: &mut Conn, out: &mut BytesMut, items: Vec<Item>, now: u64) -> Control {
    let mut control = Control::Continue;
    let mut cmds = Vec::new();
    let mut slots = Vec::new();
    for item in items {
        match item {
            Item::Server { resolved, args } => {
                flush_run(conn, out, &mut cmds, &mut slots, now).await;
                // Boxed: builtin::run can reach EXEC, which is this future.
                if let Control::Close = Box::pin(builtin::run(conn, &resolved, &args, out)).await {
                    control = Control::Close;
                }
            }
            other => push_slot(other, &mut cmds, &mut slots),
        }
    }
    flush_run(conn, out, &mut cmds, &mut slots, now).await;
    control
}

async fn flush_run(
    conn: &mut Conn,
    out: &mut BytesMut,
    cmds: &mut Vec<(usize, Vec<Bytes>)>,
    slots: &mut Vec<Slot>,
    now: u64,
) {
    let replies = if cmds.is_empty() {
        Vec::new()
    } else {
        let op = WriteOp::Batch {
            cmds: std::mem::take(cmds),
            time_ms: now,
            seed: conn.shared.next_seed(),
        };
        let cmd = Command::Write {
            client: conn.handle.id,
            op,
        };
        match conn.shared.propose(cmd).await {
            Ok(Outcome::Reply(r)) => into_replies(r),
            Ok(Outcome::Blocked { .. }) => Vec::new(),
            Err(e) => vec![Reply::Error(e); slots.len()],
        }
    };
    emit(conn, out, std::mem::take(slots), replies);
}

/// One client watching a key.
#[derive(Debug, Clone, Copy)]
struct Watcher {
    client: u64,
    /// The key was already expired when watched: it is logically absent,
    /// so its deletion changes nothing (Redis 7.0's `watchedKey.expired`).
    expired: bool,
}

/// A client's watch state.
#[derive(Debug, Default)]
struct ClientWatch {
    /// The (db, key) pairs it watches.
    keys: Vec<(usize, Bytes)>,
    /// A watched key was touched: the next EXEC fails.
    dirty: bool,
}

/// The WATCH registry: who watches which key, and which clients' next EXEC
/// must fail. Lives in `Core`, under the engine lock, so a write and the
/// EXEC check cannot interleave.
#[derive(Debug, Default)]
pub struct Watches {
    by_key: HashMap<(usize, Bytes), Vec<Watcher>>,
    clients: HashMap<u64, ClientWatch>,
}

impl Watches {
    /// True if `client` has watch state (keys, or a dirty flag) that an
    /// EXEC would check and that UNWATCH would have to clear.
    pub fn is_watching(&self, client: u64) -> bool {
        self.clients.contains_key(&client)
    }

    /// Every client's watch state, for a snapshot: (client, dirty, keys
    /// with their "expired when watched" flag), clients in id order.
    pub fn export(&self) -> Vec<(u64, bool, Vec<(usize, Bytes, bool)>)> {
        let mut out: Vec<_> = self
            .clients
            .iter()
            .map(|(&client, st)| {
                let keys = st
                    .keys
                    .iter()
                    .map(|(db, k)| {
                        let expired = self
                            .by_key
                            .get(&(*db, k.clone()))
                            .and_then(|ws| ws.iter().find(|w| w.client == client))
                            .is_some_and(|w| w.expired);
                        (*db, k.clone(), expired)
                    })
                    .collect();
                (client, st.dirty, keys)
            })
            .collect();
        out.sort_by_key(|(c, _, _)| *c);
        out
    }

    /// Rebuilds the registry from [`Watches::export`]'s output.
    pub fn import(clients: Vec<(u64, bool, Vec<(usize, Bytes, bool)>)>) -> Watches {
        let mut w = Watches::default();
        for (client, dirty, keys) in clients {
            let st = w.clients.entry(client).or_default();
            st.dirty = dirty;
            for (db, key, expired) in keys {
                let slot = (db, key);
                st.keys.push(slot.clone());
                w.by_key
                    .entry(slot)
                    .or_default()
                    .push(Watcher { client, expired });
            }
        }
        w
    }

    /// True when nobody watches anything (the fast path for every write).
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// Number of (db, key) pairs watched by anyone.
    pub fn watched_keys(&self) -> usize {
        self.by_key.len()
    }

    /// WATCH: `client` watches `keys` of database `db`.
    pub fn watch(&mut self, client: u64, db: usize, keys: &[Bytes], engine: &Engine, now_ms: u64) {
        let state = self.clients.entry(client).or_default();
        // No point in watching once the transaction is doomed.
        if state.dirty {
            return;
        }
        for key in keys {
            let slot = (db, key.clone());
            let watchers = self.by_key.entry(slot.clone()).or_default();
            if watchers.iter().any(|w| w.client == client) {
                continue;
            }
            let expired = engine
                .db(db)
                .and_then(|d| d.get(key))
                .is_some_and(|e| e.is_expired(now_ms));
            watchers.push(Watcher { client, expired });
            state.keys.push(slot);
        }
    }

    /// Forgets the client's keys, keeping its dirty flag.
    fn drop_keys(&mut self, client: u64) {
        let Some(state) = self.clients.get_mut(&client) else {
            return;
        };
        for slot in state.keys.drain(..) {
            if let Some(ws) = self.by_key.get_mut(&slot) {
                ws.retain(|w| w.client != client);
                if ws.is_empty() {
                    self.by_key.remove(&slot);
                }
            }
        }
    }

    /// UNWATCH, EXEC, DISCARD, RESET, disconnection: forgets everything
    /// about the client.
    pub fn unwatch(&mut self, client: u64) {
        self.drop_keys(client);
        self.clients.remove(&client);
    }

    fn mark_dirty(&mut self, client: u64) {
        // Its keys no longer matter: free them now rather than at EXEC.
        self.drop_keys(client);
        if let Some(s) = self.clients.get_mut(&client) {
            s.dirty = true;
        }
    }

    /// EXEC's check: true if a watched key was touched, or expired since it
    /// was watched (Redis's `isWatchedKeyExpired`). Unwatches everything.
    pub fn take_dirty(&mut self, client: u64, engine: &Engine, now_ms: u64) -> bool {
        let Some(state) = self.clients.get(&client) else {
            return false;
        };
        let dirty = state.dirty
            || state.keys.iter().any(|slot| {
                let was_expired = self
                    .by_key
                    .get(slot)
                    .and_then(|ws| ws.iter().find(|w| w.client == client))
                    .is_some_and(|w| w.expired);
                !was_expired
                    && engine
                        .db(slot.0)
                        .and_then(|d| d.get(&slot.1))
                        .is_some_and(|e| e.is_expired(now_ms))
            });
        self.unwatch(client);
        dirty
    }

    /// Before `op` is applied: if it may flush or swap databases and anyone
    /// watches, the watched keys that exist now. A flush invalidates only
    /// the watchers of keys it deletes, which its effect cannot tell after.
    pub fn before_apply(&self, op: &WriteOp, engine: &Engine) -> Option<HashSet<(usize, Bytes)>> {
        if self.by_key.is_empty() || !may_flush(op) {
            return None;
        }
        Some(
            self.by_key
                .keys()
                .filter(|(db, key)| engine.db(*db).is_some_and(|d| d.get(key).is_some()))
                .cloned()
                .collect(),
        )
    }

    /// After a write: marks the watchers of what it modified dirty.
    /// `existed` is what [`Watches::before_apply`] returned.
    pub fn after_apply(
        &mut self,
        effects: &[Effect],
        existed: Option<&HashSet<(usize, Bytes)>>,
        engine: &Engine,
        now_ms: u64,
    ) {
        if self.by_key.is_empty() {
            return;
        }
        let mut prev: Option<&Effect> = None;
        for e in effects {
            match e {
                Effect::Modified { db, key } => {
                    // An expiry or eviction emits its notification right
                    // before `Modified`: the key is gone at that point.
                    let deleted = matches!(prev, Some(Effect::Notify { class: EventClass::Expired | EventClass::Evicted, db: d, key: k, .. }) if d == db && k == key);
                    self.touch(*db, key, deleted, engine, now_ms);
                }
                Effect::Flushed { db } => self.flushed(*db, existed, engine, now_ms),
                _ => {}
            }
            prev = Some(e);
        }
    }

    /// Redis's `touchWatchedKey`.
    fn touch(&mut self, db: usize, key: &Bytes, deleted: bool, engine: &Engine, now_ms: u64) {
        let Some(ws) = self.by_key.get_mut(&(db, key.clone())) else {
            return;
        };
        let entry = engine.db(db).and_then(|d| d.get(key));
        let mut dirty = Vec::new();
        for w in ws.iter_mut() {
            if w.expired {
                if deleted || entry.is_none() {
                    // The expired key is now deleted: logically no change.
                    w.expired = false;
                    continue;
                }
                if entry.is_some_and(|e| e.is_expired(now_ms)) {
                    // Still expired: still logically absent.
                    continue;
                }
            }
            dirty.push(w.client);
        }
        for c in dirty {
            self.mark_dirty(c);
        }
    }

    /// Redis's `touchAllWatchedKeysInDb` for FLUSHDB/FLUSHALL (`db` None:
    /// all) and SWAPDB: the database's content after the write plays
    /// `replaced_with` (empty after a flush).
    fn flushed(
        &mut self,
        db: Option<usize>,
        existed: Option<&HashSet<(usize, Bytes)>>,
        engine: &Engine,
        now_ms: u64,
    ) {
        let slots: Vec<(usize, Bytes)> = self
            .by_key
            .keys()
            .filter(|(d, _)| db.is_none_or(|x| x == *d))
            .cloned()
            .collect();
        for slot in slots {
            // Without a snapshot, assume the key existed: failing an EXEC is
            // the safe side of doubt.
            let in_emptied = existed.is_none_or(|s| s.contains(&slot));
            let replaced = engine.db(slot.0).and_then(|d| d.get(&slot.1));
            if !in_emptied && replaced.is_none() {
                continue;
            }
            let replaced_expired = replaced.is_some_and(|e| e.is_expired(now_ms));
            let Some(ws) = self.by_key.get_mut(&slot) else {
                continue;
            };
            let mut dirty = Vec::new();
            for w in ws.iter_mut() {
                if w.expired {
                    if replaced.is_none() {
                        w.expired = false;
                        continue;
                    }
                    if replaced_expired {
                        continue;
                    }
                } else if !in_emptied && replaced_expired {
                    // A missing key replaced by an expired one: still absent.
                    w.expired = true;
                    continue;
                }
                dirty.push(w.client);
            }
            for c in dirty {
                self.mark_dirty(c);
            }
        }
    }
}

/// Whether a write may flush or swap whole databases.
fn may_flush(op: &WriteOp) -> bool {
    fn flushes(args: &[Bytes]) -> bool {
        args.first().is_some_and(|n| {
            n.eq_ignore_ascii_case(b"flushdb")
                || n.eq_ignore_ascii_case(b"flushall")
                || n.eq_ignore_ascii_case(b"swapdb")
        })
    }
    match op {
        WriteOp::Command { args, .. } => flushes(args),
        WriteOp::Batch { cmds, .. } => cmds.iter().any(|(_, a)| flushes(a)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lattice_engine::EngineConfig;

    fn argv(parts: &[&str]) -> Vec<Bytes> {
        parts
            .iter()
            .map(|p| Bytes::copy_from_slice(p.as_bytes()))
            .collect()
    }

    fn engine() -> Engine {
        Engine::new(EngineConfig {
            databases: 16,
            ..EngineConfig::default()
        })
    }

    /// Applies a command the way `Core::apply` does, with the watch hooks.
    fn apply(e: &mut Engine, w: &mut Watches, db: usize, parts: &[&str], now: u64) -> Reply {
        let op = WriteOp::Command {
            db,
            args: argv(parts),
            time_ms: now,
            seed: 1,
        };
        let snap = w.before_apply(&op, e);
        let out = e.apply(&op, false);
        w.after_apply(&out.effects, snap.as_ref(), e, now);
        out.reply
    }

    #[test]
    fn batch_runs_in_order_without_rollback_and_without_blocking() {
        let mut e = engine();
        let op = WriteOp::Batch {
            cmds: vec![
                (0, argv(&["SET", "x", "1"])),
                (0, argv(&["LPUSH", "x", "a"])),
                (1, argv(&["SET", "x", "in-db1"])),
                (0, argv(&["BLPOP", "nolist", "0"])),
                (0, argv(&["INCR", "x"])),
                (0, argv(&["GET", "x"])),
            ],
            time_ms: 1_000,
            seed: 9,
        };
        let out = e.apply(&op, true);
        let Reply::Array(r) = out.reply else {
            panic!("not an array: {:?}", out.reply)
        };
        assert_eq!(r.len(), 6);
        assert_eq!(r[0], Reply::Ok);
        assert!(matches!(&r[1], Reply::Error(CmdError::WrongType)));
        assert_eq!(r[2], Reply::Ok);
        assert_eq!(r[3], Reply::NilArray);
        assert_eq!(r[4], Reply::Int(2));
        assert_eq!(r[5], Reply::bulk_str("2"));
        assert!(out
            .effects
            .iter()
            .any(|f| matches!(f, Effect::Modified { db: 1, .. })));
    }

    #[test]
    fn a_write_by_anyone_dirties_the_watchers() {
        let mut e = engine();
        let mut w = Watches::default();
        apply(&mut e, &mut w, 0, &["SET", "k", "1"], 100);
        w.watch(7, 0, &argv(&["k", "other"]), &e, 100);
        w.watch(8, 1, &argv(&["k"]), &e, 100);
        assert_eq!(w.watched_keys(), 3);
        apply(&mut e, &mut w, 0, &["SET", "k", "2"], 101);
        // The dirty client's keys are released at once.
        assert_eq!(w.watched_keys(), 1);
        assert!(w.take_dirty(7, &e, 102));
        assert!(!w.take_dirty(8, &e, 102));
        assert!(w.is_empty());
    }

    #[test]
    fn writes_that_change_nothing_do_not_dirty() {
        let mut e = engine();
        let mut w = Watches::default();
        apply(&mut e, &mut w, 0, &["SET", "k", "1"], 100);
        w.watch(7, 0, &argv(&["k", "absent"]), &e, 100);
        apply(&mut e, &mut w, 0, &["SET", "k", "2", "NX"], 101);
        apply(&mut e, &mut w, 0, &["DEL", "absent"], 101);
        apply(&mut e, &mut w, 0, &["GET", "k"], 101);
        assert!(!w.take_dirty(7, &e, 102));
    }

    #[test]
    fn eviction_dirties_the_watchers() {
        let mut e = engine();
        let mut w = Watches::default();
        apply(&mut e, &mut w, 0, &["SET", "k", "1"], 100);
        w.watch(1, 0, &argv(&["k"]), &e, 100);
        let out = e.apply(
            &WriteOp::Evict {
                db: 0,
                keys: argv(&["k"]),
                time_ms: 101,
            },
            false,
        );
        w.after_apply(&out.effects, None, &e, 101);
        assert!(w.take_dirty(1, &e, 102));
    }

    #[test]
    fn flush_dirties_only_watchers_of_existing_keys() {
        let mut e = engine();
        let mut w = Watches::default();
        apply(&mut e, &mut w, 0, &["SET", "k", "1"], 100);
        w.watch(1, 0, &argv(&["k"]), &e, 100);
        w.watch(2, 0, &argv(&["absent"]), &e, 100);
        w.watch(3, 1, &argv(&["k"]), &e, 100);
        apply(&mut e, &mut w, 0, &["FLUSHALL"], 101);
        assert!(w.take_dirty(1, &e, 102));
        assert!(!w.take_dirty(2, &e, 102));
        assert!(!w.take_dirty(3, &e, 102));
    }

    #[test]
    fn swapdb_dirties_when_the_key_exists_on_either_side() {
        let mut e = engine();
        let mut w = Watches::default();
        apply(&mut e, &mut w, 1, &["SET", "k", "1"], 100);
        w.watch(1, 0, &argv(&["k"]), &e, 100);
        w.watch(2, 0, &argv(&["none"]), &e, 100);
        apply(&mut e, &mut w, 0, &["SWAPDB", "0", "1"], 101);
        assert!(w.take_dirty(1, &e, 102));
        assert!(!w.take_dirty(2, &e, 102));
    }

    #[test]
    fn expiry_after_watch_fails_exec_but_an_already_expired_key_does_not() {
        let mut e = engine();
        let mut w = Watches::default();
        apply(&mut e, &mut w, 0, &["SET", "live", "1", "PX", "100"], 1_000);
        apply(&mut e, &mut w, 0, &["SET", "dead", "1", "PX", "100"], 1_000);
        // Watched while alive, expired by EXEC time (not yet deleted).
        w.watch(1, 0, &argv(&["live"]), &e, 1_050);
        assert!(w.take_dirty(1, &e, 1_200));
        // Watched while alive, deleted by active expiry.
        w.watch(2, 0, &argv(&["live"]), &e, 1_050);
        let out = e.apply(
            &WriteOp::Expire {
                db: 0,
                keys: argv(&["live"]),
                time_ms: 1_200,
            },
            false,
        );
        w.after_apply(&out.effects, None, &e, 1_200);
        assert!(w.take_dirty(2, &e, 1_200));
        // Watched when already expired: deletion is no change ...
        w.watch(3, 0, &argv(&["dead"]), &e, 1_200);
        assert!(!w.take_dirty(3, &e, 1_300));
        w.watch(4, 0, &argv(&["dead"]), &e, 1_200);
        let out = e.apply(
            &WriteOp::Expire {
                db: 0,
                keys: argv(&["dead"]),
                time_ms: 1_300,
            },
            false,
        );
        w.after_apply(&out.effects, None, &e, 1_300);
        assert!(!w.take_dirty(4, &e, 1_300));
        // ... but re-creating it is.
        apply(
            &mut e,
            &mut w,
            0,
            &["SET", "dead2", "1", "PX", "100"],
            1_000,
        );
        w.watch(5, 0, &argv(&["dead2"]), &e, 1_200);
        apply(&mut e, &mut w, 0, &["SET", "dead2", "2"], 1_300);
        assert!(w.take_dirty(5, &e, 1_300));
    }

    #[test]
    fn watch_is_bounded_by_distinct_keys_and_cleared_by_unwatch() {
        let e = engine();
        let mut w = Watches::default();
        for _ in 0..3 {
            w.watch(1, 0, &argv(&["a", "b", "a"]), &e, 0);
        }
        assert_eq!(w.watched_keys(), 2);
        w.unwatch(1);
        assert!(w.is_empty());
        assert!(w.clients.is_empty());
    }
}
