//! The listener: binds the configured addresses, accepts clients (enforcing
//! `maxclients` and protected mode), and runs the server cron (active expiry,
//! the ops/sec sample) until shutdown.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use lattice_engine::WriteOp;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

use crate::config::ServerConfig;
use crate::shared::{unix_ms, Shared};

const PROTECTED_MODE_MSG: &str = "-DENIED Lattice is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Lattice you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Lattice from the same host the server is running, however MAKE SURE Lattice is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Lattice configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Set up an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

/// Active expiry deletes at most this many keys per cron tick, so one tick
/// holds the engine lock only briefly (Redis bounds its cycle by CPU time).
const EXPIRE_PER_TICK: usize = 2000;

/// A bound, not yet running server.
pub struct Server {
    shared: Arc<Shared>,
    listeners: Vec<TcpListener>,
}

impl Server {
    /// Binds every `bind` address on `port` (a `-` prefix marks an address
    /// whose failure is tolerated, as in Redis). Port 0 binds the first
    /// address only, on an ephemeral port.
    pub async fn bind(config: ServerConfig) -> std::io::Result<Server> {
        let mut listeners = Vec::new();
        let port = config.port;
        for (i, addr) in config.bind.iter().enumerate() {
            if port == 0 && i > 0 {
                break;
            }
            let (optional, host) = match addr.strip_prefix('-') {
                Some(h) => (true, h),
                None => (false, addr.as_str()),
            };
            let host = if host == "*" { "0.0.0.0" } else { host };
            let target = if host.contains(':') {
                format!("[{host}]:{port}")
            } else {
                format!("{host}:{port}")
            };
            match TcpListener::bind(&target).await {
                Ok(l) => listeners.push(l),
                Err(e) if optional => {
                    tracing::debug!(addr = %target, error = %e, "optional bind address skipped");
                }
                Err(e) => {
                    return Err(std::io::Error::new(
                        e.kind(),
                        format!("could not bind {target}: {e}"),
                    ))
                }
            }
        }
        if listeners.is_empty() {
            return Err(std::io::Error::other("no address could be bound"));
        }
        let shared = Shared::new(config);
        let addr = listeners.first().and_then(|l| l.local_addr().ok());
        if let Some(a) = addr {
            shared.port.store(u64::from(a.port()), Ordering::Relaxed);
        }
        // Recovery happens here, before the first client is accepted.
        crate::write_path::open(&shared, addr).await?;
        Ok(Server { shared, listeners })
    }

    /// Addresses actually bound.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    /// Shared state (for signals and tests).
    pub fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    /// Serves until shutdown is signalled; returns once listeners are closed
    /// and connections have been told to stop.
    pub async fn run(self) -> std::io::Result<()> {
        let shared = self.shared;
        // The metrics endpoint outlives the accept loops (aborted last) so
        // `/readyz` answers 503 while connections drain.
        let metrics = crate::observe::http::start(&shared).await?;
        let mut tasks = Vec::new();
        for l in self.listeners {
            tasks.push(tokio::spawn(accept_loop(shared.clone(), l)));
        }
        tasks.push(tokio::spawn(cron(shared.clone())));
        shared.observe.set_ready(true);
        let mut rx = shared.shutdown.subscribe();
        while !*rx.borrow() {
            if rx.changed().await.is_err() {
                break;
            }
        }
        for t in &tasks {
            t.abort();
        }
        if let Some(wp) = shared.write_path() {
            let save = match shared.shutdown_save.load(Ordering::SeqCst) {
                1 => true,
                2 => false,
                // Redis saves on shutdown when it has no AOF (default save
                // points); with the log on disk everything is already there.
                _ => !shared.config().appendonly,
            };
            wp.shutdown(save).await;
        }
        // Give connections a moment to see the signal and close their sockets.
        let deadline = Instant::now() + Duration::from_secs(2);
        while shared.client_count() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if let Some(m) = metrics {
            m.abort();
        }
        Ok(())
    }
}

async fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    loop {
        let (stream, addr) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        shared
            .stats
            .total_connections_received
            .fetch_add(1, Ordering::Relaxed);
        let cfg = shared.config();
        if protected_mode_refuses(&cfg, addr.ip()) {
            shared
                .stats
                .rejected_connections
                .fetch_add(1, Ordering::Relaxed);
            reject(stream, PROTECTED_MODE_MSG).await;
            continue;
        }
        if shared.client_count() as u64 >= cfg.maxclients {
            shared
                .stats
                .rejected_connections
                .fetch_add(1, Ordering::Relaxed);
            reject(stream, "-ERR max number of clients reached\r\n").await;
            continue;
        }
        let _ = stream.set_nodelay(true);
        if cfg.tcp_keepalive > 0 {
            let ka = socket2::TcpKeepalive::new().with_time(Duration::from_secs(cfg.tcp_keepalive));
            let _ = socket2::SockRef::from(&stream).set_tcp_keepalive(&ka);
        }
        let laddr = stream.local_addr().unwrap_or(addr);
        let handle = shared.register_client(addr, laddr);
        tokio::spawn(crate::connection::serve(shared.clone(), stream, handle));
    }
}

/// Protected mode (Redis's rule): with `protected-mode yes` and no password,
/// only loopback clients may connect.
pub fn protected_mode_refuses(cfg: &ServerConfig, peer: std::net::IpAddr) -> bool {
    let loopback = match peer {
        std::net::IpAddr::V4(v4) => v4.is_loopback(),
        // An IPv4 client on a dual-stack socket shows up as ::ffff:127.x.y.z.
        std::net::IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    };
    cfg.protected_mode && cfg.requirepass.is_empty() && !loopback
}

async fn reject(mut stream: TcpStream, msg: &str) {
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(msg.as_bytes())).await;
}

/// Background work at `hz`: active expiry and the ops/sec sample.
async fn cron(shared: Arc<Shared>) {
    let mut last_ops = shared
        .stats
        .total_commands_processed
        .load(Ordering::Relaxed);
    let mut last_at = Instant::now();
    loop {
        let hz = shared.config().hz.max(1);
        tokio::time::sleep(Duration::from_millis(1000 / hz)).await;
        active_expire(&shared);
        auto_snapshot(&shared);
        crate::alloc::peak_bytes();
        let ops = shared
            .stats
            .total_commands_processed
            .load(Ordering::Relaxed);
        let secs = last_at.elapsed().as_secs_f64();
        if secs > 0.0 {
            let rate = (ops.saturating_sub(last_ops)) as f64 / secs;
            shared
                .stats
                .instantaneous_ops_per_sec
                .store(rate as u64, Ordering::Relaxed);
        }
        last_ops = ops;
        last_at = Instant::now();
    }
}

/// One active-expiry pass: the engine picks expired keys, and they are
/// deleted through the write path as `WriteOp::Expire`, so a replica would
/// apply exactly the same deletions.
pub fn active_expire(shared: &Shared) {
    // A running script holds the engine; expiry waits for the next tick.
    if shared.scripts.running_for().is_some() {
        return;
    }
    let keys = {
        let core = shared.core();
        if !core.engine.config().active_expire_enabled {
            return;
        }
        core.engine
            .expired_keys(unix_ms(), shared.next_seed(), EXPIRE_PER_TICK)
    };
    if keys.is_empty() {
        return;
    }
    let now = unix_ms();
    let mut by_db: BTreeMap<usize, Vec<Bytes>> = BTreeMap::new();
    for (db, k) in keys {
        by_db.entry(db).or_default().push(k);
    }
    for (db, keys) in by_db {
        shared.submit(lattice_raft::Command::Write {
            client: lattice_raft::INTERNAL_CLIENT,
            op: WriteOp::Expire {
                db,
                keys,
                time_ms: now,
            },
        });
    }
}

/// Compacts the log with a snapshot once it has grown past
/// `auto-aof-rewrite-percentage` of the last snapshot and
/// `auto-aof-rewrite-min-size` (Redis's automatic AOF rewrite rule).
fn auto_snapshot(shared: &Arc<Shared>) {
    let Some(wp) = shared.write_path() else {
        return;
    };
    let cfg = shared.config();
    if wp.wants_snapshot(cfg.auto_snapshot_percentage, cfg.auto_snapshot_min_size)
        && !wp
            .snapshots
            .in_progress
            .load(std::sync::atomic::Ordering::SeqCst)
    {
        let shared = shared.clone();
        tokio::spawn(async move {
            if let Some(wp) = shared.write_path() {
                tracing::info!("the log grew past the rewrite threshold: taking a snapshot");
                if let Err(e) = wp.start_snapshot().await {
                    tracing::error!(error = %e.to_string(), "automatic snapshot failed");
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protected_mode_admits_only_loopback_without_a_password() {
        let mut cfg = ServerConfig::default();
        let remote: std::net::IpAddr = "10.1.2.3".parse().unwrap();
        let mapped_local: std::net::IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        assert!(protected_mode_refuses(&cfg, remote));
        assert!(!protected_mode_refuses(&cfg, "127.0.0.1".parse().unwrap()));
        assert!(!protected_mode_refuses(&cfg, "::1".parse().unwrap()));
        assert!(!protected_mode_refuses(&cfg, mapped_local));
        cfg.requirepass = "pw".into();
        assert!(
            !protected_mode_refuses(&cfg, remote),
            "a password lifts protected mode"
        );
        cfg.requirepass.clear();
        cfg.protected_mode = false;
        assert!(!protected_mode_refuses(&cfg, remote));
    }
}
