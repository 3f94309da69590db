//! Outcome and latency accounting: one HdrHistogram (nanoseconds, 3
//! significant digits) per operation kind and connection, merged at the end,
//! and the JSON report.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::{json, Map, Value};

use crate::config::{Config, Protocol, Workload};
use crate::workload::OpKind;

/// Highest latency the histograms track exactly (longer ones are clamped).
const MAX_NS: u64 = 600 * 1_000_000_000;
/// Error messages kept for the report.
const MAX_ERROR_SAMPLES: usize = 5;

/// How one request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A success reply.
    Ok,
    /// A success reply for a key that does not exist (GET nil, empty range).
    Miss,
    /// An error reply, or no reply because the connection failed.
    Error,
}

/// Counts and latencies of one operation kind.
#[derive(Debug, Clone)]
pub struct OpStats {
    /// Latencies of answered requests, in nanoseconds.
    pub hist: Histogram<u64>,
    /// Requests answered with success (misses included).
    pub ok: u64,
    /// Reads that found no key.
    pub misses: u64,
    /// Error replies and requests lost to a failed connection.
    pub errors: u64,
}

impl OpStats {
    fn new() -> OpStats {
        OpStats {
            hist: new_histogram(),
            ok: 0,
            misses: 0,
            errors: 0,
        }
    }

    /// Requests counted (success and error).
    pub fn requests(&self) -> u64 {
        self.ok + self.errors
    }
}

fn new_histogram() -> Histogram<u64> {
    // Constant, valid bounds: 1 ns to MAX_NS with 3 significant digits.
    Histogram::new_with_bounds(1, MAX_NS, 3).expect("valid histogram bounds")
}

/// What a set of connections measured.
#[derive(Debug, Clone)]
pub struct Stats {
    ops: Vec<OpStats>,
    /// First few error messages (error replies, I/O errors).
    pub error_samples: Vec<String>,
    /// Connections that ended early because of an I/O or protocol error.
    pub failed_connections: u64,
}

impl Default for Stats {
    fn default() -> Self {
        Stats::new()
    }
}

impl Stats {
    /// Empty counters for every kind.
    pub fn new() -> Stats {
        Stats {
            ops: OpKind::ALL.iter().map(|_| OpStats::new()).collect(),
            error_samples: Vec::new(),
            failed_connections: 0,
        }
    }

    /// The counters of one kind.
    pub fn op(&self, kind: OpKind) -> Option<&OpStats> {
        self.ops.get(kind.index())
    }

    /// Records one answered request.
    pub fn record(&mut self, kind: OpKind, latency: Duration, outcome: Outcome) {
        if let Some(op) = self.ops.get_mut(kind.index()) {
            let ns = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
            op.hist.saturating_record(ns.clamp(1, MAX_NS));
            match outcome {
                Outcome::Ok => op.ok += 1,
                Outcome::Miss => {
                    op.ok += 1;
                    op.misses += 1;
                }
                Outcome::Error => op.errors += 1,
            }
        }
    }

    /// Counts `n` requests of `kind` that got no reply (a failed connection).
    pub fn lost(&mut self, kind: OpKind, n: u64) {
        if let Some(op) = self.ops.get_mut(kind.index()) {
            op.errors += n;
        }
    }

    /// Keeps `msg` if fewer than a few messages are kept.
    pub fn error_sample(&mut self, msg: impl Into<String>) {
        if self.error_samples.len() < MAX_ERROR_SAMPLES {
            self.error_samples.push(msg.into());
        }
    }

    /// Adds `other`'s counts and latencies to these.
    pub fn merge(&mut self, other: Stats) -> anyhow::Result<()> {
        for (mine, theirs) in self.ops.iter_mut().zip(other.ops) {
            mine.hist
                .add(&theirs.hist)
                .map_err(|e| anyhow::anyhow!("merging histograms: {e:?}"))?;
            mine.ok += theirs.ok;
            mine.misses += theirs.misses;
            mine.errors += theirs.errors;
        }
        for m in other.error_samples {
            self.error_sample(m);
        }
        self.failed_connections += other.failed_connections;
        Ok(())
    }

    /// All requests counted.
    pub fn requests(&self) -> u64 {
        self.ops.iter().map(OpStats::requests).sum()
    }

    /// Requests answered with success.
    pub fn ok(&self) -> u64 {
        self.ops.iter().map(|o| o.ok).sum()
    }

    /// Errors (error replies and requests lost to failed connections).
    pub fn errors(&self) -> u64 {
        self.ops.iter().map(|o| o.errors).sum()
    }

    /// Reads that found no key.
    pub fn misses(&self) -> u64 {
        self.ops.iter().map(|o| o.misses).sum()
    }

    /// The latencies of every kind together.
    pub fn all_latencies(&self) -> anyhow::Result<Histogram<u64>> {
        let mut h = new_histogram();
        for op in &self.ops {
            h.add(&op.hist)
                .map_err(|e| anyhow::anyhow!("merging histograms: {e:?}"))?;
        }
        Ok(h)
    }
}

/// What `--preload` did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PreloadInfo {
    /// Keys written.
    pub keys: u64,
    /// How long it took.
    pub elapsed: Duration,
}

/// The outcome of one run.
#[derive(Debug, Clone)]
pub struct Report {
    /// What was run.
    pub config: Config,
    /// What was measured.
    pub stats: Stats,
    /// Time from the first request to the last reply.
    pub elapsed: Duration,
    /// The preload phase, if any.
    pub preload: Option<PreloadInfo>,
}

fn ms(ns: u64) -> f64 {
    // Microsecond resolution in milliseconds.
    (ns as f64 / 1_000.0).round() / 1_000.0
}

/// p50/p99/p999/mean/max of `h` in milliseconds (all null when empty).
pub fn latency_json(h: &Histogram<u64>) -> Value {
    if h.is_empty() {
        return json!({"mean": null, "p50": null, "p99": null, "p999": null, "max": null});
    }
    json!({
        "mean": (h.mean() / 1_000.0).round() / 1_000.0,
        "p50": ms(h.value_at_quantile(0.50)),
        "p99": ms(h.value_at_quantile(0.99)),
        "p999": ms(h.value_at_quantile(0.999)),
        "max": ms(h.max()),
    })
}

impl Report {
    /// Requests answered (success or error) per second of the timed phase.
    pub fn ops_per_sec(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.stats.requests() as f64 / secs
        } else {
            0.0
        }
    }

    /// The report as JSON (what the binary prints).
    pub fn to_json(&self) -> anyhow::Result<Value> {
        let c = &self.config;
        let all = self.stats.all_latencies()?;
        let mut ops = Map::new();
        let secs = self.elapsed.as_secs_f64();
        for kind in OpKind::ALL {
            let Some(op) = self.stats.op(kind) else {
                continue;
            };
            if op.requests() == 0 {
                continue;
            }
            let rate = if secs > 0.0 {
                op.requests() as f64 / secs
            } else {
                0.0
            };
            ops.insert(
                kind.name().to_owned(),
                json!({
                    "requests": op.requests(),
                    "ok": op.ok,
                    "misses": op.misses,
                    "errors": op.errors,
                    "ops_per_sec": rate.round(),
                    "latency_ms": latency_json(&op.hist),
                }),
            );
        }
        let mut v = json!({
            "protocol": c.protocol.name(),
            "workload": c.workload.name(),
            "host": c.host,
            "port": c.port,
            "connections": c.connections,
            "pipeline": c.pipeline,
            "keys": c.keys,
            "value_size": c.value_size,
            "threads": c.threads,
            "stop": {
                "requests": c.requests,
                "duration_s": c.duration.map(|d| d.as_secs_f64()),
            },
            "preload": self.preload.map(|p| json!({
                "keys": p.keys,
                "seconds": (p.elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
            })),
            "requests": self.stats.requests(),
            "ok": self.stats.ok(),
            "misses": self.stats.misses(),
            "errors": self.stats.errors(),
            "failed_connections": self.stats.failed_connections,
            "elapsed_s": (secs * 1000.0).round() / 1000.0,
            "ops_per_sec": self.ops_per_sec().round(),
            "latency_ms": latency_json(&all),
            "ops": ops,
            "error_samples": self.stats.error_samples,
        });
        if let Some(obj) = v.as_object_mut() {
            if c.workload == Workload::Mixed {
                obj.insert("read_ratio".into(), json!(c.read_ratio));
            }
            if matches!(
                c.workload,
                Workload::Lpush | Workload::Zadd | Workload::Hset
            ) {
                obj.insert("collection_keys".into(), json!(c.collection_keys));
            }
            if c.protocol == Protocol::Etcd {
                obj.insert("etcd_read".into(), json!(c.etcd_read.name()));
            }
        }
        Ok(v)
    }
}
