//! #[PerformanceCriticalPath]
//! One client connection: read bytes, decode every complete request, run
//! them in order (pipelining), write the replies in one go. Pub/sub pushes
//! from the connection's queue (`crate::pubsub`) are written between
//! replies, never inside one.
//!
//! Memory stays bounded per client: the query buffer is capped by
//! `client-query-buffer-limit`; replies are flushed whenever 64 KiB are
//! buffered, so a client that does not read stalls only itself (TCP
//! back-pressure), and a reply larger than the `normal` class's hard
//! `client-output-buffer-limit` closes the connection as Redis does.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use lattice_engine::Reply;
use lattice_resp::{encode, Limits, RequestDecoder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

use crate::dispatch::{deferrable, drain_deferred, BlockWait, Conn, Control, MAX_DEFERRED};
use crate::pubsub::PushQueue;
use crate::reply_codec::write_reply;
use crate::shared::{ClientHandle, Shared};

const FLUSH_AT: usize = 64 * 1024;
const READ_CHUNK: usize = 16 * 1024;

/// Limits a connection caches; refreshed when CONFIG SET bumps the epoch.
struct Cached {
    epoch: u64,
    query_limit: usize,
    output_hard: usize,
    idle_timeout: Option<Duration>,
}

impl Cached {
    fn load(shared: &Shared, decoder: &mut RequestDecoder) -> Self {
        let epoch = shared.config_epoch.load(Ordering::SeqCst);
        let cfg = shared.config();
        decoder.limits = Limits {
            proto_max_bulk_len: cfg.engine.proto_max_bulk_len,
            ..Limits::default()
        };
        Self {
            epoch,
            query_limit: cfg.client_query_buffer_limit as usize,
            output_hard: cfg.output_limits.first().map_or(0, |l| l.hard as usize),
            idle_timeout: (cfg.timeout > 0).then(|| Duration::from_secs(cfg.timeout)),
        }
    }
}

async fn flush(
    wr: &mut OwnedWriteHalf,
    out: &mut BytesMut,
    shared: &Shared,
    handle: &ClientHandle,
) -> bool {
    if out.is_empty() {
        return true;
    }
    let n = out.len();
    // A client that does not read blocks this write; CLIENT KILL or the
    // pubsub output limit must still be able to disconnect it. Biased: a
    // write that can complete at once does (CLIENT KILL of oneself answers
    // before the connection closes).
    let ok = tokio::select! {
        biased;
        r = wr.write_all(out) => r.is_ok(),
        _ = handle.kill_notify.notified() => false,
    };
    shared
        .stats
        .net_output_bytes
        .fetch_add(n as u64, Ordering::Relaxed);
    out.clear();
    ok
}

/// Waits in a blocking command. Returns the reply, or `None` if the client
/// went away (disconnect, kill, shutdown) while waiting. Bytes the client
/// sends meanwhile are buffered for after the reply, as Redis does; pub/sub
/// messages (RESP3 clients may block while subscribed) are written as they
/// come, as Redis does.
async fn wait_blocked(
    conn: &Conn,
    mut wait: BlockWait,
    (rd, wr): (&mut OwnedReadHalf, &mut OwnedWriteHalf),
    pushes: &mut PushQueue,
    inbuf: &mut BytesMut,
    query_limit: usize,
) -> Option<Reply> {
    let shared = &conn.shared;
    let id = conn.handle.id;
    let mut shutdown = shared.shutdown.subscribe();
    let deadline = wait.deadline;
    let sleep = async move {
        match deadline {
            Some(d) => tokio::time::sleep_until(d.into()).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(sleep);
    let result = loop {
        if inbuf.capacity() - inbuf.len() < 1024 {
            inbuf.reserve(READ_CHUNK);
        }
        tokio::select! {
            r = &mut wait.rx => break r.ok(),
            _ = &mut sleep => {
                // Time is up, unless a write served us first: the Unblock
                // goes through the log, so replay serves exactly who the
                // live run served.
                match shared.propose(lattice_raft::Command::Unblock { client: id }).await {
                    Ok(lattice_raft::Outcome::Reply(lattice_engine::Reply::Int(1))) => {
                        break Some(wait.timeout_reply);
                    }
                    Ok(_) => break (&mut wait.rx).await.ok(),
                    Err(e) => break Some(lattice_engine::Reply::Error(e)),
                }
            }
            r = rd.read_buf(inbuf) => match r {
                Ok(0) | Err(_) => break None,
                Ok(n) => {
                    shared.stats.net_input_bytes.fetch_add(n as u64, Ordering::Relaxed);
                    if inbuf.len() > query_limit {
                        break None;
                    }
                }
            },
            p = pushes.recv() => {
                let mut buf = BytesMut::new();
                pushes.drain(p, &mut buf, conn.resp);
                if !flush(wr, &mut buf, shared, &conn.handle).await {
                    break None;
                }
            }
            _ = conn.handle.kill_notify.notified() => break None,
            _ = shutdown.changed() => break None,
        }
    };
    if result.is_none() && shared.core().blocked.contains(id) {
        shared.submit(lattice_raft::Command::Unblock { client: id });
    }
    conn.handle.info().blocked = false;
    result
}

/// Serves one client until it disconnects, is killed, or the server stops.
pub async fn serve(shared: Arc<Shared>, stream: TcpStream, handle: Arc<ClientHandle>) {
    let is_local = handle.addr.ip().is_loopback();
    let (mut rd, mut wr) = stream.into_split();
    let authenticated = shared.config().requirepass.is_empty();
    let (subs, mut pushes) = crate::pubsub::client(shared.pubsub.clone(), handle.clone());
    let tracking = crate::tracking::ClientTracking::new(shared.tracking.clone(), &subs);
    let mut conn = Conn {
        shared: shared.clone(),
        handle: handle.clone(),
        db: 0,
        resp: encode::Version::Resp2,
        authenticated,
        is_local,
        tx: Default::default(),
        pubsub: subs,
        tracking,
        defer: false,
        pending: Default::default(),
    };
    let mut decoder = RequestDecoder::default();
    let mut cached = Cached::load(&shared, &mut decoder);
    let mut inbuf = BytesMut::with_capacity(READ_CHUNK);
    let mut out = BytesMut::with_capacity(READ_CHUNK);
    let mut shutdown = shared.shutdown.subscribe();
    let mut closing = false;

    'conn: loop {
        if shared.config_epoch.load(Ordering::Relaxed) != cached.epoch {
            cached = Cached::load(&shared, &mut decoder);
        }
        // Run every complete request in the buffer.
        while !closing {
            decoder.unauthenticated = !conn.authenticated;
            match decoder.decode(&mut inbuf) {
                Ok(Some(args)) => {
                    if args.is_empty() {
                        continue;
                    }
                    // A write in a pipelined burst is submitted without
                    // waiting, so the burst shares a log entry; anything
                    // else first waits for (and writes) the replies owed.
                    conn.defer = conn.pending.len() < MAX_DEFERRED && deferrable(&conn, &args);
                    if !conn.defer {
                        drain_deferred(&mut conn, &mut out).await;
                    }
                    // Messages published before this command go out before
                    // its reply, as in Redis; never inside it.
                    pushes.drain(None, &mut out, conn.resp);
                    let was_client = args
                        .first()
                        .is_some_and(|a| a.eq_ignore_ascii_case(b"client"));
                    // Through `observe`, which times the command and records it.
                    let control = crate::observe::dispatch(&mut conn, args, &mut out).await;
                    conn.tracking.after_command(was_client, conn.tx.in_multi());
                    match control {
                        Control::Continue => {}
                        Control::Close => closing = true,
                        Control::Block(wait) => {
                            if !flush(&mut wr, &mut out, &shared, &handle).await {
                                break 'conn;
                            }
                            match wait_blocked(
                                &conn,
                                wait,
                                (&mut rd, &mut wr),
                                &mut pushes,
                                &mut inbuf,
                                cached.query_limit,
                            )
                            .await
                            {
                                Some(r) => write_reply(&mut out, &r, conn.resp),
                                None => break 'conn,
                            }
                        }
                    }
                    if cached.output_hard > 0 && out.len() > cached.output_hard {
                        tracing::warn!(client = handle.id, addr = %handle.addr, "client output buffer limit reached, closing");
                        break 'conn;
                    }
                    if out.len() >= FLUSH_AT && !flush(&mut wr, &mut out, &shared, &handle).await {
                        break 'conn;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    drain_deferred(&mut conn, &mut out).await;
                    tracing::info!(client = handle.id, addr = %handle.addr, error = %e, "protocol error, closing");
                    encode::error(&mut out, &e.to_string());
                    closing = true;
                }
            }
        }
        drain_deferred(&mut conn, &mut out).await;
        if !flush(&mut wr, &mut out, &shared, &handle).await || closing {
            break;
        }
        if inbuf.len() + decoder.pending_bytes() > cached.query_limit {
            tracing::warn!(client = handle.id, addr = %handle.addr, "query buffer limit reached, closing");
            break;
        }
        handle.info().qbuf = inbuf.len();
        let want = decoder
            .bytes_wanted()
            .max(READ_CHUNK)
            .min(cached.query_limit);
        if inbuf.capacity() - inbuf.len() < want / 2 {
            inbuf.reserve(want);
        }
        // Redis never times out a client in subscribed context.
        let subscribed = conn.pubsub.active();
        let idle = async {
            match cached.idle_timeout {
                Some(d) if !subscribed => tokio::time::sleep(d).await,
                _ => std::future::pending().await,
            }
        };
        tokio::select! {
            r = rd.read_buf(&mut inbuf) => match r {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    shared.stats.net_input_bytes.fetch_add(n as u64, Ordering::Relaxed);
                    // Per read, not per command (a clock read and a lock per
                    // pipelined command showed in profiles); Redis too
                    // updates `lastinteraction` when it reads a query.
                    *handle
                        .last_active
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) = Instant::now();
                }
            },
            p = pushes.recv() => pushes.drain(p, &mut out, conn.resp),
            _ = handle.kill_notify.notified() => break,
            _ = shutdown.changed() => break,
            _ = idle => {
                tracing::debug!(client = handle.id, "closing idle client");
                break;
            }
        }
        if handle.killed.load(Ordering::SeqCst) {
            break;
        }
    }
    let _ = wr.shutdown().await;
    crate::pubsub::reset(&mut conn);
    shared.unregister_client(handle.id);
}
