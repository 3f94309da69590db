//! Running a benchmark: the request budget the connections share, the RESP
//! connection and driver, and the entry points [`run`] / [`run_async`].
//!
//! Model (both protocols): C connections are opened first (not timed), the
//! optional preload writes the key space, then the clock starts and every
//! connection keeps P requests in flight until the budget (`--requests`) or
//! the deadline (`--duration`) runs out. RESP sends P commands in one write
//! and reads the P replies (`redis-benchmark -P`); each request's latency is
//! from that write to its reply.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

use crate::config::{Config, Protocol};
use crate::resp::{encode_command, parse_reply, Reply};
use crate::stats::{Outcome, PreloadInfo, Report, Stats};
use crate::workload::{write_key, Generator, OpKind, STRINGS};

/// Commands per batch while preloading.
const PRELOAD_BATCH: u64 = 128;

/// How many requests may still be sent, and until when.
#[derive(Debug)]
pub struct Budget {
    remaining: Option<AtomicU64>,
    deadline: Option<Instant>,
}

impl Budget {
    /// A budget of `requests` (unlimited when `None`) until `deadline`.
    pub fn new(requests: Option<u64>, deadline: Option<Instant>) -> Budget {
        Budget {
            remaining: requests.map(AtomicU64::new),
            deadline,
        }
    }

    /// Takes up to `n` requests from the budget; 0 means stop.
    pub fn claim(&self, n: u64) -> u64 {
        if let Some(d) = self.deadline {
            if Instant::now() >= d {
                return 0;
            }
        }
        match &self.remaining {
            None => n,
            Some(left) => left
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |l| {
                    (l > 0).then(|| l - l.min(n))
                })
                .map(|l| l.min(n))
                .unwrap_or(0),
        }
    }
}

/// One RESP connection with its read and write buffers.
pub struct RespConn {
    stream: TcpStream,
    inbuf: BytesMut,
    /// Commands to send with [`RespConn::flush`].
    pub out: Vec<u8>,
}

impl RespConn {
    /// Connects (TCP_NODELAY) within `timeout`.
    pub async fn connect(host: &str, port: u16, timeout: Duration) -> anyhow::Result<RespConn> {
        let stream = tokio::time::timeout(timeout, TcpStream::connect((host, port)))
            .await
            .map_err(|_| anyhow!("connecting to {host}:{port}: timed out after {timeout:?}"))?
            .with_context(|| format!("connecting to {host}:{port}"))?;
        stream.set_nodelay(true)?;
        Ok(RespConn {
            stream,
            inbuf: BytesMut::with_capacity(16 * 1024),
            out: Vec::with_capacity(4 * 1024),
        })
    }

    /// Writes what is in `out` and clears it.
    pub async fn flush(&mut self) -> std::io::Result<()> {
        self.stream.write_all(&self.out).await?;
        self.out.clear();
        Ok(())
    }

    /// Reads one reply.
    pub async fn read_reply(&mut self) -> anyhow::Result<Reply> {
        loop {
            if let Some((reply, used)) = parse_reply(&self.inbuf)? {
                self.inbuf.advance(used);
                return Ok(reply);
            }
            self.inbuf.reserve(16 * 1024);
            if self.stream.read_buf(&mut self.inbuf).await? == 0 {
                bail!("connection closed by the server");
            }
        }
    }

    /// Sends one command and reads its reply.
    pub async fn call(&mut self, args: &[&[u8]]) -> anyhow::Result<Reply> {
        encode_command(&mut self.out, args);
        self.flush().await?;
        self.read_reply().await
    }
}

fn describe(reply: &Reply) -> String {
    match reply {
        Reply::Error(e) => String::from_utf8_lossy(e).into_owned(),
        other => format!("{other:?}"),
    }
}

/// Runs `cfg` on a Tokio runtime of `cfg.threads` threads (one: a
/// current-thread runtime, like `redis-benchmark`'s single event loop).
pub fn run(cfg: &Config) -> anyhow::Result<Report> {
    let rt = if cfg.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cfg.threads)
            .enable_all()
            .build()?
    };
    rt.block_on(run_async(cfg))
}

/// Runs `cfg` on the current Tokio runtime.
pub async fn run_async(cfg: &Config) -> anyhow::Result<Report> {
    match cfg.protocol {
        Protocol::Resp => run_resp(cfg).await,
        #[cfg(feature = "etcd")]
        Protocol::Etcd => crate::etcd::run_etcd(cfg).await,
        #[cfg(not(feature = "etcd"))]
        Protocol::Etcd => bail!(
            "this lattice-bench was built without etcd support: \
             cargo build --release -p lattice-bench --features etcd"
        ),
    }
}

/// Splits `0..keys` into `parts` contiguous ranges (some may be empty).
pub fn split_range(keys: u64, parts: u64, i: u64) -> std::ops::Range<u64> {
    let parts = parts.max(1);
    let per = keys / parts;
    let extra = keys % parts;
    let start = i * per + i.min(extra);
    let len = per + u64::from(i < extra);
    start..(start + len).min(keys)
}

async fn preload_resp(
    mut conn: RespConn,
    cfg: Arc<Config>,
    range: std::ops::Range<u64>,
) -> anyhow::Result<RespConn> {
    let value = vec![b'x'; cfg.value_size];
    let mut key = Vec::with_capacity(64);
    let mut n = range.start;
    while n < range.end {
        let batch_end = (n + PRELOAD_BATCH).min(range.end);
        for i in n..batch_end {
            write_key(&mut key, cfg.key_prefix.as_bytes(), STRINGS, i);
            encode_command(&mut conn.out, &[b"SET", &key, &value]);
        }
        conn.flush().await.context("preload")?;
        for _ in n..batch_end {
            let reply = conn.read_reply().await.context("preload")?;
            if reply.is_error() {
                bail!("preload: SET replied {}", describe(&reply));
            }
        }
        n = batch_end;
    }
    Ok(conn)
}

async fn resp_worker(
    mut conn: RespConn,
    mut gen: Generator,
    pipeline: u64,
    budget: Arc<Budget>,
) -> Stats {
    let mut stats = Stats::new();
    let mut kinds: Vec<OpKind> = Vec::with_capacity(usize::try_from(pipeline).unwrap_or(1));
    loop {
        let n = budget.claim(pipeline);
        if n == 0 {
            return stats;
        }
        conn.out.clear();
        kinds.clear();
        for _ in 0..n {
            let kind = gen.next_kind();
            gen.encode_resp(kind, &mut conn.out);
            kinds.push(kind);
        }
        let start = Instant::now();
        if let Err(e) = conn.flush().await {
            for &k in &kinds {
                stats.lost(k, 1);
            }
            stats.failed_connections += 1;
            stats.error_sample(format!("write: {e}"));
            return stats;
        }
        for (i, &kind) in kinds.iter().enumerate() {
            match conn.read_reply().await {
                Ok(reply) => {
                    let outcome = if reply.is_error() {
                        stats.error_sample(format!("{}: {}", kind.name(), describe(&reply)));
                        Outcome::Error
                    } else if kind.is_read() && reply.is_null() {
                        Outcome::Miss
                    } else {
                        Outcome::Ok
                    };
                    stats.record(kind, start.elapsed(), outcome);
                }
                Err(e) => {
                    for &k in kinds.iter().skip(i) {
                        stats.lost(k, 1);
                    }
                    stats.failed_connections += 1;
                    stats.error_sample(format!("read: {e:#}"));
                    return stats;
                }
            }
        }
    }
}

async fn run_resp(cfg: &Config) -> anyhow::Result<Report> {
    let cfg = Arc::new(cfg.clone());
    let mut connecting = JoinSet::new();
    for _ in 0..cfg.connections {
        let cfg = Arc::clone(&cfg);
        connecting.spawn(async move {
            RespConn::connect(&cfg.host, cfg.port, cfg.connect_timeout).await
        });
    }
    let mut conns = Vec::with_capacity(cfg.connections);
    while let Some(c) = connecting.join_next().await {
        conns.push(c??);
    }

    let preload = if cfg.preload {
        let t0 = Instant::now();
        let parts = conns.len() as u64;
        let mut loading = JoinSet::new();
        for (i, conn) in conns.drain(..).enumerate() {
            let range = split_range(cfg.keys, parts, i as u64);
            loading.spawn(preload_resp(conn, Arc::clone(&cfg), range));
        }
        while let Some(c) = loading.join_next().await {
            conns.push(c??);
        }
        Some(PreloadInfo {
            keys: cfg.keys,
            elapsed: t0.elapsed(),
        })
    } else {
        None
    };

    let start = Instant::now();
    let budget = Arc::new(Budget::new(cfg.requests, cfg.duration.map(|d| start + d)));
    let mut workers = JoinSet::new();
    for (i, conn) in conns.into_iter().enumerate() {
        let gen = Generator::new(&cfg, i as u64);
        workers.spawn(resp_worker(
            conn,
            gen,
            cfg.pipeline as u64,
            Arc::clone(&budget),
        ));
    }
    let mut stats = Stats::new();
    while let Some(s) = workers.join_next().await {
        stats.merge(s?)?;
    }
    Ok(Report {
        config: (*cfg).clone(),
        stats,
        elapsed: start.elapsed(),
        preload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_hands_out_exactly_the_requests() {
        let b = Budget::new(Some(10), None);
        assert_eq!(b.claim(4), 4);
        assert_eq!(b.claim(4), 4);
        assert_eq!(b.claim(4), 2);
        assert_eq!(b.claim(4), 0);
        assert_eq!(b.claim(1), 0);
    }

    #[test]
    fn budget_stops_at_the_deadline() {
        let b = Budget::new(None, Some(Instant::now() + Duration::from_secs(3600)));
        assert_eq!(b.claim(16), 16);
        let past = Budget::new(Some(100), Some(Instant::now()));
        assert_eq!(past.claim(1), 0);
    }

    #[test]
    fn split_range_covers_the_key_space_once() {
        for (keys, parts) in [(10u64, 3u64), (3, 10), (0, 4), (100, 1), (7, 7)] {
            let mut next = 0;
            for i in 0..parts {
                let r = split_range(keys, parts, i);
                assert_eq!(r.start, next, "keys {keys} parts {parts} part {i}");
                next = r.end;
            }
            assert_eq!(next, keys);
        }
    }
}
