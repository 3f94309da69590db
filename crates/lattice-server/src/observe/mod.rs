//! #[PerformanceCriticalPath]
//! Observability: what the server records about the commands it runs and
//! how it reports it.
//!
//! * [`dispatch`] wraps `dispatch::dispatch` for every command: it times the
//!   call and charges it to the command's slot (`INFO commandstats`,
//!   `latencystats`, `LATENCY HISTOGRAM`), counts error replies by prefix
//!   (`INFO errorstats`), logs slow commands (SLOWLOG), feeds the latency
//!   monitor (LATENCY) and samples the keys it touches (HOTKEYS).
//! * [`metrics`] renders all of it, plus the server counters, in the
//!   Prometheus text format; [`http`] serves it on `metrics-port`.
//!
//! The hot path takes no lock: statistics are atomics in fixed slots, the
//! slow log and latency monitor are locked only for commands over their
//! thresholds, and the hot-key tracker only for one access in eight. The
//! directives are read from the shared configuration only when its epoch
//! changes (CONFIG SET), not per command.
//!
//! Depends on the engine's command table (for slots and key positions) and
//! on the server's shared state; nothing else depends on this module except
//! through `Shared::observe`.

pub mod cmdstats;
pub mod errorstats;
pub mod histogram;
pub mod hotkeys;
pub mod http;
pub mod latency;
pub mod metrics;
pub mod settings;
pub mod slowlog;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use lattice_engine::number::parse_i64;
use lattice_engine::{flags, CmdError, Reply};
use smallvec::SmallVec;

pub use settings::{MetricsPort, ObserveConfig};

use crate::dispatch::{Conn, Control};
use crate::shared::{unix_ms, Shared};
use cmdstats::{Lookup, Registry};

/// Error prefixes that Redis produces before running a command (in
/// `processCommand`), so they count as `rejected_calls`, not `failed_calls`.
const REJECTION_CODES: &[&str] = &[
    "NOAUTH",
    "NOPERM",
    "OOM",
    "MISCONF",
    "READONLY",
    "LOADING",
    "BUSY",
    "MASTERDOWN",
    "NOREPLICAS",
    "MOVED",
    "ASK",
    "CROSSSLOT",
    "CLUSTERDOWN",
    "TRYAGAIN",
];

/// Directive values the hot path needs, cached as atomics.
#[derive(Default)]
struct Cached {
    /// The `config_epoch` these values were read at (0 at start-up, when
    /// `Observe::new` read them).
    epoch: AtomicU64,
    slower_than: AtomicI64,
    max_len: AtomicU64,
    threshold_ms: AtomicU64,
    tracking: AtomicBool,
}

/// Everything the server records for observability (one per server, in
/// [`Shared`]).
pub struct Observe {
    /// Per-command statistics.
    pub commands: Registry,
    /// Errors by prefix.
    pub errors: errorstats::ErrorStats,
    /// SLOWLOG.
    pub slowlog: slowlog::SlowLog,
    /// LATENCY events.
    pub latency: latency::LatencyMonitor,
    /// HOTKEYS.
    pub hotkeys: hotkeys::HotKeys,
    cached: Cached,
    ready: AtomicBool,
    metrics_addr: Mutex<Option<SocketAddr>>,
}

impl Observe {
    /// Fresh state for a server configured with `cfg`.
    pub fn new(cfg: &ObserveConfig) -> Self {
        let o = Self {
            commands: Registry::new(),
            errors: Default::default(),
            slowlog: Default::default(),
            latency: Default::default(),
            hotkeys: Default::default(),
            cached: Cached::default(),
            ready: AtomicBool::new(false),
            metrics_addr: Mutex::new(None),
        };
        o.apply(cfg);
        o
    }

    fn apply(&self, cfg: &ObserveConfig) {
        let c = &self.cached;
        c.slower_than
            .store(cfg.slowlog_log_slower_than, Ordering::Relaxed);
        c.max_len.store(cfg.slowlog_max_len, Ordering::Relaxed);
        c.threshold_ms
            .store(cfg.latency_monitor_threshold, Ordering::Relaxed);
        c.tracking.store(cfg.latency_tracking, Ordering::Relaxed);
        self.slowlog
            .trim(usize::try_from(cfg.slowlog_max_len).unwrap_or(usize::MAX));
    }

    /// Re-reads the directives if CONFIG SET changed the configuration.
    fn refresh(&self, shared: &Shared) {
        let epoch = shared.config_epoch.load(Ordering::Acquire);
        if self.cached.epoch.load(Ordering::Relaxed) != epoch {
            self.apply(&shared.config().observe);
            self.cached.epoch.store(epoch, Ordering::Relaxed);
        }
    }

    fn slowlog_on(&self) -> bool {
        self.cached.slower_than.load(Ordering::Relaxed) >= 0
            && self.cached.max_len.load(Ordering::Relaxed) > 0
    }

    /// CONFIG RESETSTAT: command, error and hot-key statistics (the slow
    /// log and latency events are kept, as in Redis).
    pub fn reset_stats(&self) {
        self.commands.reset();
        self.errors.reset();
        self.hotkeys.reset();
    }

    /// Marks the server as accepting connections (`/readyz`).
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }

    /// True once the listeners run, until shutdown begins.
    pub fn is_ready(&self, shared: &Shared) -> bool {
        self.ready.load(Ordering::SeqCst) && !*shared.shutdown.borrow()
    }

    /// The bound metrics address, once listening.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        *self
            .metrics_addr
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn set_metrics_addr(&self, addr: SocketAddr) {
        *self
            .metrics_addr
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(addr);
    }

    /// Offers the keys of a command about to run to the hot-key tracker
    /// (sampled: most calls return at the first check).
    fn sample_keys(&self, l: &Lookup, db: usize, args: &[Bytes]) {
        let spec = l.spec;
        let data = spec.flags & (flags::READONLY | flags::WRITE) != 0;
        let has_keys = spec.first_key > 0 || spec.getkeys.is_some();
        if !data || !has_keys || l.arity_fails || !hotkeys::sampled() {
            return;
        }
        let positions = spec.key_positions(args);
        self.hotkeys.record(
            db,
            positions
                .iter()
                .filter_map(|&i| args.get(i))
                .map(|b| &b[..]),
        );
    }

    /// Accounts for one command once its reply is known.
    fn finish(
        &self,
        conn: &Conn,
        found: Option<Lookup>,
        ns: u64,
        reply: &[u8],
        saved: &[Bytes],
        argc: usize,
    ) {
        let error = reply.strip_prefix(b"-").map(|r| {
            let end = r.iter().position(|&b| b == b'\r').unwrap_or(r.len());
            r.get(..end).unwrap_or_default()
        });
        if let Some(text) = error {
            self.errors.record(text);
        }
        // Queued inside MULTI: it runs (and is counted) at EXEC.
        if reply == b"+QUEUED\r\n" {
            return;
        }
        let Some(l) = found else { return };
        let rejected = l.arity_fails
            || error.is_some_and(|t| REJECTION_CODES.contains(&errorstats::error_code(t)));
        if rejected {
            self.commands.record_rejected(l.slot);
            return;
        }
        let c = &self.cached;
        self.commands.record_call(
            l.slot,
            ns,
            error.is_some(),
            c.tracking.load(Ordering::Relaxed),
        );
        let us = ns / 1000;
        let slower_than = c.slower_than.load(Ordering::Relaxed);
        if slower_than >= 0
            && us >= slower_than.unsigned_abs()
            && l.spec.flags & flags::SKIP_SLOWLOG == 0
        {
            let max_len = usize::try_from(c.max_len.load(Ordering::Relaxed)).unwrap_or(usize::MAX);
            if max_len > 0 {
                let mut args = slowlog::shorten_args(saved, argc);
                slowlog::redact(&mut args);
                let entry = slowlog::Entry {
                    id: 0,
                    time: unix_ms() / 1000,
                    duration_us: us,
                    args,
                    addr: conn.handle.addr.to_string(),
                    name: conn.handle.info().name.clone(),
                };
                self.slowlog.push(entry, max_len);
            }
        }
        let threshold = c.threshold_ms.load(Ordering::Relaxed);
        let ms = ns / 1_000_000;
        if threshold > 0 && ms >= threshold {
            let event = if l.spec.flags & flags::FAST != 0 {
                "fast-command"
            } else {
                "command"
            };
            self.latency.add_sample(event, ms, unix_ms() / 1000);
        }
    }
}

/// Runs one command through `dispatch::dispatch`, recording what
/// observability needs. The connection calls this instead of `dispatch`.
pub async fn dispatch(conn: &mut Conn, args: Vec<Bytes>, out: &mut BytesMut) -> Control {
    let shared = conn.shared.clone();
    let obs = &shared.observe;
    obs.refresh(&shared);
    let found = obs.commands.lookup(&args);
    // The slow log needs argv after dispatch consumed it: keep cheap
    // reference-counted handles to the first 32 arguments (no copy, and no
    // allocation for up to 6 of them).
    let saved: SmallVec<[Bytes; 6]> = if found.is_some() && obs.slowlog_on() {
        args.iter().take(slowlog::MAX_ARGC).cloned().collect()
    } else {
        SmallVec::new()
    };
    let argc = args.len();
    if let Some(l) = &found {
        obs.sample_keys(l, conn.db, &args);
    }
    let before = out.len();
    let started = Instant::now();
    let deferred_before = conn.pending.len();
    let control = crate::dispatch::dispatch(conn, args, out).await;
    if conn.pending.len() > deferred_before {
        // A deferred write: counted when its reply is written, and timed
        // to then (its latency includes the log).
        if let Some(d) = conn.pending.back_mut() {
            d.obs = Some(DeferredCall {
                found,
                started,
                saved,
                argc,
            });
        }
        return control;
    }
    let ns = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
    // Again after: a CONFIG SET of a threshold applies to that very command,
    // as in Redis, where the slow log is checked after the call.
    obs.refresh(&shared);
    obs.finish(
        conn,
        found,
        ns,
        out.get(before..).unwrap_or_default(),
        &saved,
        argc,
    );
    control
}

/// What `finish` needs of a write whose reply comes later.
pub struct DeferredCall {
    found: Option<Lookup>,
    started: Instant,
    saved: SmallVec<[Bytes; 6]>,
    argc: usize,
}

impl Observe {
    /// Records a deferred write once its reply is written.
    pub fn finish_deferred(&self, conn: &Conn, call: DeferredCall, reply: &[u8]) {
        let ns = u64::try_from(call.started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.finish(conn, call.found, ns, reply, &call.saved, call.argc);
    }
}

/// `INFO commandstats` section.
pub fn info_commandstats(s: &Shared, out: &mut String) {
    out.push_str("# Commandstats\r\n");
    s.observe.commands.write_commandstats(out);
}

/// `INFO errorstats` section.
pub fn info_errorstats(s: &Shared, out: &mut String) {
    out.push_str("# Errorstats\r\n");
    s.observe.errors.write_info(out);
}

/// `INFO latencystats` section.
pub fn info_latencystats(s: &Shared, out: &mut String) {
    out.push_str("# Latencystats\r\n");
    let pct = s.config().observe.latency_tracking_info_percentiles;
    s.observe.commands.write_latencystats(&pct, out);
}

/// The `ERR unknown subcommand or wrong number of arguments` reply of a
/// subcommand that checks its own arguments.
pub(crate) fn subcommand_syntax_error(args: &[Bytes]) -> CmdError {
    let cmd =
        String::from_utf8_lossy(args.first().map_or(&[][..], |a| &a[..])).to_ascii_uppercase();
    let sub: String = String::from_utf8_lossy(args.get(1).map_or(&[][..], |a| &a[..]))
        .chars()
        .take(128)
        .collect();
    CmdError::err(format!(
        "unknown subcommand or wrong number of arguments for '{sub}'. Try {cmd} HELP."
    ))
}

/// SLOWLOG subcommands.
pub fn slowlog_command(shared: &Shared, sub: &str, args: &[Bytes]) -> Result<Reply, CmdError> {
    slowlog::command(&shared.observe.slowlog, sub, args)
}

/// LATENCY subcommands.
pub fn latency_command(shared: &Shared, sub: &str, args: &[Bytes]) -> Result<Reply, CmdError> {
    if sub == "histogram" {
        return Ok(shared
            .observe
            .commands
            .latency_histogram(args.get(2..).unwrap_or_default()));
    }
    let cfg = shared.config().observe;
    let ctx = latency::DoctorContext {
        threshold_ms: cfg.latency_monitor_threshold,
        slowlog_slower_than: cfg.slowlog_log_slower_than,
    };
    latency::command(&shared.observe.latency, ctx, sub, args, unix_ms() / 1000)
}

/// HOTKEYS [count]: the hottest keys of the selected database, as
/// `[key, estimated accesses]` pairs, hottest first (default 10, at most
/// `hotkeys::K`).
pub fn hotkeys_command(shared: &Shared, db: usize, args: &[Bytes]) -> Result<Reply, CmdError> {
    if args.len() > 2 {
        return Err(CmdError::Syntax);
    }
    let count = match args.get(1) {
        None => 10,
        Some(a) => match parse_i64(a) {
            Some(n) if n > 0 => usize::try_from(n).unwrap_or(usize::MAX),
            Some(_) => return Err(CmdError::err("value is out of range, must be positive")),
            None => return Err(CmdError::NotInteger),
        },
    };
    let top = shared.observe.hotkeys.top(Some(db), count);
    Ok(Reply::Array(
        top.into_iter()
            .map(|(_, key, n)| {
                Reply::Array(vec![
                    Reply::Bulk(key),
                    Reply::Int(i64::try_from(n).unwrap_or(i64::MAX)),
                ])
            })
            .collect(),
    ))
}
