//! etcd's gRPC KV API (feature `etcd`): `Put` and single-key `Range` with the
//! same model as RESP: C connections (one `etcd_client::Client`, that is one
//! HTTP/2 connection, each) with P requests in flight on each (P workers
//! sharing the connection), a key space, a request budget or a deadline.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{anyhow, Context};
use etcd_client::{Client, ConnectOptions, GetOptions, KvClient};
use tokio::task::JoinSet;

use crate::config::{Config, EtcdRead};
use crate::run::Budget;
use crate::stats::{Outcome, PreloadInfo, Report, Stats};
use crate::workload::{string_key, Generator, OpKind};

async fn connect(cfg: &Config) -> anyhow::Result<KvClient> {
    let url = format!("http://{}:{}", cfg.host, cfg.port);
    let opts = ConnectOptions::new()
        .with_connect_timeout(cfg.connect_timeout)
        .with_timeout(cfg.connect_timeout.max(std::time::Duration::from_secs(30)));
    let client = tokio::time::timeout(cfg.connect_timeout, Client::connect([&url], Some(opts)))
        .await
        .map_err(|_| anyhow!("connecting to etcd at {url}: timed out"))?
        .with_context(|| format!("connecting to etcd at {url}"))?;
    let mut kv = client.kv_client();
    // The channel connects lazily: one untimed request opens the connection.
    kv.get(string_key(&cfg.key_prefix, 0), None)
        .await
        .with_context(|| format!("first request to etcd at {url}"))?;
    Ok(kv)
}

fn get_options(cfg: &Config) -> Option<GetOptions> {
    match cfg.etcd_read {
        EtcdRead::Linearizable => None,
        EtcdRead::Serializable => Some(GetOptions::new().with_serializable()),
    }
}

async fn preload_worker(
    mut kv: KvClient,
    cfg: Arc<Config>,
    next: Arc<AtomicU64>,
) -> anyhow::Result<()> {
    let value = vec![b'x'; cfg.value_size];
    loop {
        let n = next.fetch_add(1, Ordering::Relaxed);
        if n >= cfg.keys {
            return Ok(());
        }
        kv.put(string_key(&cfg.key_prefix, n), value.clone(), None)
            .await
            .context("preload: put")?;
    }
}

async fn worker(mut kv: KvClient, cfg: Arc<Config>, stream: u64, budget: Arc<Budget>) -> Stats {
    let mut gen = Generator::new(&cfg, stream);
    let opts = get_options(&cfg);
    let mut stats = Stats::new();
    while budget.claim(1) == 1 {
        let kind = gen.next_kind().for_etcd();
        let key = gen.next_string_key();
        let start = Instant::now();
        let outcome = match kind {
            OpKind::Range => kv.get(key, opts.clone()).await.map(|r| {
                if r.kvs().is_empty() {
                    Outcome::Miss
                } else {
                    Outcome::Ok
                }
            }),
            _ => kv
                .put(key, gen.value().to_vec(), None)
                .await
                .map(|_| Outcome::Ok),
        };
        let latency = start.elapsed();
        match outcome {
            Ok(o) => stats.record(kind, latency, o),
            Err(e) => {
                stats.error_sample(format!("{}: {e}", kind.name()));
                stats.record(kind, latency, Outcome::Error);
            }
        }
    }
    stats
}

/// Runs `cfg` (protocol etcd) on the current Tokio runtime.
pub async fn run_etcd(cfg: &Config) -> anyhow::Result<Report> {
    let cfg = Arc::new(cfg.clone());
    let mut connecting = JoinSet::new();
    for _ in 0..cfg.connections {
        let cfg = Arc::clone(&cfg);
        connecting.spawn(async move { connect(&cfg).await });
    }
    let mut clients = Vec::with_capacity(cfg.connections);
    while let Some(c) = connecting.join_next().await {
        clients.push(c??);
    }

    let preload = if cfg.preload {
        let t0 = Instant::now();
        let next = Arc::new(AtomicU64::new(0));
        let mut loading = JoinSet::new();
        for kv in &clients {
            for _ in 0..cfg.pipeline {
                loading.spawn(preload_worker(
                    kv.clone(),
                    Arc::clone(&cfg),
                    Arc::clone(&next),
                ));
            }
        }
        while let Some(r) = loading.join_next().await {
            r??;
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
    let mut stream = 0u64;
    for kv in &clients {
        for _ in 0..cfg.pipeline {
            workers.spawn(worker(
                kv.clone(),
                Arc::clone(&cfg),
                stream,
                Arc::clone(&budget),
            ));
            stream += 1;
        }
    }
    let mut stats = Stats::new();
    while let Some(s) = workers.join_next().await {
        stats.merge(s?)?;
    }
    let elapsed = start.elapsed();
    Ok(Report {
        config: (*cfg).clone(),
        stats,
        elapsed,
        preload,
    })
}
