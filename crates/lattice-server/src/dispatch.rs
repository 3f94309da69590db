//! #[PerformanceCriticalPath]
//! From argv to reply, in Redis's `processCommand` order: existence and
//! arity, authentication, memory (evict, then refuse `denyoom` commands),
//! CLIENT PAUSE, queueing inside MULTI (`transaction.rs`), then execution —
//! server-layer commands here, engine reads via
//! `Engine::read` on the applied state, engine writes proposed to the log
//! (`write_path`) and answered from their apply — and blocking.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use lattice_engine::cmd::{self, Resolved};
use lattice_engine::{flags, CmdError, Reply, WriteOp};
use lattice_raft::Outcome;
use lattice_resp::encode::Version;
use tokio::sync::oneshot;

use crate::builtin;
use crate::reply_codec::write_reply;
use crate::shared::ClientHandle;
use crate::shared::{unix_ms, Shared};
use crate::transaction;

/// A connection's own state, as dispatch sees it.
pub struct Conn {
    /// Shared server state.
    pub shared: Arc<Shared>,
    /// This client in the registry.
    pub handle: Arc<ClientHandle>,
    /// Selected database.
    pub db: usize,
    /// Protocol version.
    pub resp: Version,
    /// Passed AUTH (or no password is set).
    pub authenticated: bool,
    /// The peer is on the loopback interface.
    pub is_local: bool,
    /// MULTI state (queued commands).
    pub tx: crate::transaction::Tx,
    /// Pub/sub subscriptions.
    pub pubsub: crate::pubsub::ClientSubs,
    /// Client-side caching (CLIENT TRACKING).
    pub tracking: crate::tracking::ClientTracking,
    /// Set by the connection for a write it may leave in flight (see
    /// [`deferrable`]): dispatch submits it and queues its reply slot.
    pub defer: bool,
    /// Replies of submitted writes, in command order, not yet written.
    pub pending: std::collections::VecDeque<Deferred>,
}

/// A write submitted without waiting: its reply slot, and what the
/// command statistics need once the reply is known.
pub struct Deferred {
    /// Where the reply comes from.
    pub reply: DeferredReply,
    /// Filled in by `observe::dispatch`.
    pub obs: Option<crate::observe::DeferredCall>,
}

/// The reply of a deferred write.
pub enum DeferredReply {
    /// Applied later; the reply arrives here.
    InFlight(oneshot::Receiver<Result<Outcome, CmdError>>),
    /// Refused at once (the log cannot take writes).
    Ready(Reply),
}

/// Most writes one connection leaves in flight before waiting for them.
pub const MAX_DEFERRED: usize = 1024;

/// Whether `args` is a write the connection may submit and not wait for,
/// so a pipelined burst becomes one log entry: a plain engine write (not
/// blocking), outside MULTI, subscribed context and tracking (pushes must
/// follow the reply they are caused by), with nothing that could make
/// dispatch answer before queueing it (auth, maxmemory).
pub fn deferrable(conn: &Conn, args: &[Bytes]) -> bool {
    if !conn.authenticated
        || conn.tx.in_multi()
        || conn.pubsub.active()
        || conn.tracking.on()
        || conn.shared.maxmemory() != 0
        || conn.shared.write_path().is_none()
    {
        return false;
    }
    match cmd::resolve(args) {
        Ok(r) => {
            r.spec.handler.is_some() && r.spec.is_write() && r.spec.flags & flags::BLOCKING == 0
        }
        Err(_) => false,
    }
}

/// Writes the replies of every deferred write, in order, waiting for them.
pub async fn drain_deferred(conn: &mut Conn, out: &mut BytesMut) {
    while let Some(d) = conn.pending.pop_front() {
        let r = match d.reply {
            DeferredReply::Ready(r) => r,
            DeferredReply::InFlight(rx) => match rx.await {
                Ok(Ok(Outcome::Reply(r))) => r,
                Ok(Ok(Outcome::Blocked { .. })) => {
                    Reply::Error(CmdError::err("a deferred write blocked"))
                }
                Ok(Err(e)) => Reply::Error(e),
                Err(_) => Reply::Error(CmdError::err("the write path has stopped")),
            },
        };
        let before = out.len();
        reply(conn, out, r);
        if let Some(obs) = d.obs {
            let shared = conn.shared.clone();
            shared
                .observe
                .finish_deferred(conn, obs, out.get(before..).unwrap_or_default());
        }
    }
}

/// What the connection does after a command.
pub enum Control {
    /// Go on with the next request.
    Continue,
    /// Write what is buffered, then close (QUIT, protocol errors).
    Close,
    /// Wait for a blocking command to be served or to time out.
    Block(BlockWait),
}

/// A client waiting in a blocking command.
pub struct BlockWait {
    /// Receives the reply when a write serves the client.
    pub rx: oneshot::Receiver<Reply>,
    /// When to give up (None: forever).
    pub deadline: Option<Instant>,
    /// The reply on timeout.
    pub timeout_reply: Reply,
}

/// The NOAUTH error.
pub fn noauth() -> CmdError {
    CmdError::Other("NOAUTH Authentication required.".into())
}

/// Runs one command and appends its reply to `out`.
pub async fn dispatch(conn: &mut Conn, args: Vec<Bytes>, out: &mut BytesMut) -> Control {
    let shared = conn.shared.clone();
    shared
        .stats
        .total_commands_processed
        .fetch_add(1, Ordering::Relaxed);
    let resolved = match cmd::resolve(&args) {
        Ok(r) => r,
        Err(e) => return transaction::reject(conn, &args, e, out),
    };
    let spec = resolved.spec;
    let name = command_name(&resolved);
    {
        let mut info = conn.handle.info();
        info.last_cmd = name.clone();
    }
    if !conn.authenticated && spec.flags & flags::NO_AUTH == 0 {
        return transaction::reject(conn, &args, noauth(), out);
    }
    if let Err(e) = crate::scripting::busy_gate(&shared, &resolved, &args).await {
        return transaction::reject(conn, &args, e, out);
    }
    let (check_memory, denyoom) = transaction::memory_rule(conn, &resolved);
    if check_memory {
        if let Err(e) = enforce_maxmemory(&shared, denyoom).await {
            return transaction::reject(conn, &args, e, out);
        }
    }
    // Redis's processCommand: a RESP2 client in subscribed context may only
    // (un)subscribe, PING, QUIT and RESET.
    if conn.resp == Version::Resp2
        && conn.pubsub.active()
        && !crate::pubsub::allowed_in_context(&resolved)
    {
        let e = crate::pubsub::context_error(&name);
        return transaction::reject(conn, &args, e, out);
    }
    // CLIENT subcommands are never paused, so CLIENT UNPAUSE can lift a
    // pause (Redis pauses them too under ALL; see docs/compatibility.md).
    if resolved.parent.is_none_or(|p| p.name != "client") {
        wait_if_paused(
            &shared,
            spec.is_write()
                || transaction::exec_writes(conn, &resolved)
                // Scripts that may write are paused by CLIENT PAUSE WRITE
                // (Redis's may-replicate rule).
                || matches!(spec.name, "eval" | "evalsha" | "fcall"),
        )
        .await;
    }
    if conn.tx.queues(&resolved) {
        return transaction::queue(conn, &resolved, args, out);
    }

    // Commands run under the isolation read guard; an EXEC that mixes in
    // server-layer commands takes it exclusively (see transaction.rs).
    let _isolation = if transaction::is_mixed_exec(conn, &resolved) {
        Isolation::Exclusive(shared.isolation.write().await)
    } else {
        Isolation::Shared(shared.isolation.read().await)
    };
    if spec.handler.is_none() {
        return builtin::run(conn, &resolved, &args, out).await;
    }
    let now = unix_ms();
    let seed = shared.next_seed();
    if spec.is_write() {
        let op = WriteOp::Command {
            db: conn.db,
            args,
            time_ms: now,
            seed,
        };
        let cmd = lattice_raft::Command::Write {
            client: conn.handle.id,
            op,
        };
        if conn.defer {
            if let Some(wp) = shared.write_path() {
                let reply = match wp.submit(cmd) {
                    Ok(rx) => DeferredReply::InFlight(rx),
                    Err(e) => DeferredReply::Ready(Reply::Error(e)),
                };
                conn.pending.push_back(Deferred { reply, obs: None });
                return Control::Continue;
            }
        }
        match shared.propose(cmd).await {
            Ok(Outcome::Reply(r)) => reply(conn, out, r),
            Ok(Outcome::Blocked { rx, timeout_ms }) => {
                conn.handle.info().blocked = true;
                // Redis 7.0 has no upper bound on timeouts: one past what the
                // clock can represent waits forever.
                let deadline = (timeout_ms > 0)
                    .then(|| Instant::now().checked_add(Duration::from_millis(timeout_ms)))
                    .flatten();
                // Every blocking command answers a null array on timeout (even
                // BLMOVE, whose non-blocking form answers a null bulk).
                Control::Block(BlockWait {
                    rx,
                    deadline,
                    timeout_reply: Reply::NilArray,
                })
            }
            Err(e) => reply(conn, out, Reply::Error(e)),
        }
    } else {
        let r = crate::tracking::read(conn, &resolved, &args, now, seed).await;
        reply(conn, out, r)
    }
}

/// Which isolation guard a command holds while it runs.
enum Isolation<'a> {
    Shared(#[allow(dead_code)] tokio::sync::RwLockReadGuard<'a, ()>),
    Exclusive(#[allow(dead_code)] tokio::sync::RwLockWriteGuard<'a, ()>),
}

/// The name used in CLIENT LIST `cmd=` and INFO commandstats.
fn command_name(r: &Resolved) -> String {
    match r.parent {
        Some(p) => format!("{}|{}", p.name, r.spec.name),
        None => r.spec.name.to_string(),
    }
}

/// Encodes a reply, counting errors.
pub fn reply(conn: &Conn, out: &mut BytesMut, r: Reply) -> Control {
    if matches!(r, Reply::Error(_)) {
        conn.shared
            .stats
            .total_error_replies
            .fetch_add(1, Ordering::Relaxed);
    }
    write_reply(out, &r, conn.resp);
    Control::Continue
}

/// Evicts keys until memory is under `maxmemory`; if it cannot and the
/// command may grow memory, refuses it with the OOM error. Evictions are
/// writes the leader decides: they go through the log.
pub async fn enforce_maxmemory(shared: &Shared, denyoom: bool) -> Result<(), CmdError> {
    let maxmemory = shared.maxmemory();
    if maxmemory == 0 {
        return Ok(());
    }
    let used = || crate::alloc::allocated_bytes() as u64;
    if used() <= maxmemory {
        return Ok(());
    }
    // Bounded work per command, as Redis's eviction time limit.
    for _ in 0..64 {
        if used() <= maxmemory {
            return Ok(());
        }
        let victims = shared
            .core()
            .engine
            .eviction_victims(unix_ms(), shared.next_seed(), 16);
        if victims.is_empty() {
            break;
        }
        let now = unix_ms();
        let mut by_db: std::collections::BTreeMap<usize, Vec<Bytes>> = Default::default();
        for (db, key) in victims {
            by_db.entry(db).or_default().push(key);
        }
        for (db, keys) in by_db {
            let cmd = lattice_raft::Command::Write {
                client: lattice_raft::INTERNAL_CLIENT,
                op: WriteOp::Evict {
                    db,
                    keys,
                    time_ms: now,
                },
            };
            shared.propose(cmd).await?;
        }
    }
    if used() > maxmemory && denyoom {
        return Err(CmdError::Oom);
    }
    Ok(())
}

/// Waits while CLIENT PAUSE applies to this command.
async fn wait_if_paused(shared: &Shared, is_write: bool) {
    loop {
        let p = *shared
            .pause
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(until) = p.until else { return };
        if Instant::now() >= until || (p.writes_only && !is_write) {
            return;
        }
        let unpaused = shared.unpaused.notified();
        tokio::select! {
            _ = tokio::time::sleep_until(until.into()) => {}
            _ = unpaused => {}
        }
    }
}
