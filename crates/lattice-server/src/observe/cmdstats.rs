//! Per-command statistics (`INFO commandstats`, `INFO latencystats`,
//! `LATENCY HISTOGRAM`, the Prometheus command series).
//!
//! Every command and subcommand of the engine's table gets a fixed slot when
//! the server starts; a slot is a handful of atomics plus a latency
//! histogram allocated on the command's first call. Recording a call is a
//! lookup in a map that is never written after start-up and a few relaxed
//! atomic adds, so connections never contend on a lock for it.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use bytes::Bytes;
use lattice_engine::cmd::all_commands;
use lattice_engine::{CommandSpec, Reply};

use super::histogram::{Histogram, Snapshot};

/// Containers that Lattice models with subcommands but Redis treats as one
/// command: their statistics are kept under the container's name, as Redis
/// reports them (`cmdstat_debug`, not `cmdstat_debug|sleep`).
const FLAT_CONTAINERS: &[&str] = &["debug"];

/// Longest command name looked up (longer argv[0] cannot be a command).
const MAX_NAME: usize = 64;

/// Counters of one (sub)command.
#[derive(Default)]
pub struct CmdStats {
    calls: AtomicU64,
    usec: AtomicU64,
    rejected: AtomicU64,
    failed: AtomicU64,
    histogram: OnceLock<Histogram>,
}

/// A copy of one command's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CmdCounts {
    /// Executions.
    pub calls: u64,
    /// Total execution time, microseconds.
    pub usec: u64,
    /// Refused before execution (arity, NOAUTH, OOM …).
    pub rejected: u64,
    /// Executed and answered an error.
    pub failed: u64,
}

impl CmdStats {
    /// Current counters.
    pub fn counts(&self) -> CmdCounts {
        CmdCounts {
            calls: self.calls.load(Ordering::Relaxed),
            usec: self.usec.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
        }
    }

    /// The latency histogram, if the command ever ran since the last reset.
    pub fn histogram(&self) -> Option<Snapshot> {
        let h = self.histogram.get()?;
        (h.total() > 0).then(|| h.snapshot())
    }

    fn reset(&self) {
        for c in [&self.calls, &self.usec, &self.rejected, &self.failed] {
            c.store(0, Ordering::Relaxed);
        }
        if let Some(h) = self.histogram.get() {
            h.reset();
        }
    }
}

/// One slot: the command's full name and its counters.
pub struct Entry {
    /// `get`, `client|list`.
    pub name: String,
    /// The (sub)command's declaration.
    pub spec: &'static CommandSpec,
    /// Index of the container's slot for a subcommand.
    pub parent: Option<usize>,
    /// Counters.
    pub stats: CmdStats,
}

/// What the recorder learnt about argv before running it.
#[derive(Debug, Clone, Copy)]
pub struct Lookup {
    /// The slot to charge.
    pub slot: usize,
    /// The (sub)command that will run (for flags and key positions).
    pub spec: &'static CommandSpec,
    /// argv does not fit the arity: the command will be rejected.
    pub arity_fails: bool,
}

/// Every command's slot.
pub struct Registry {
    entries: Vec<Entry>,
    /// Looked up once per command: the engine's fast hasher, not SipHash
    /// (which showed in `-P 16` profiles; names are not attacker-chosen keys
    /// of a growing table).
    by_name: HashMap<Box<[u8]>, usize, lattice_engine::FastHasher>,
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

impl Registry {
    /// One slot per command and subcommand of the engine's table.
    pub fn new() -> Self {
        let mut entries = Vec::new();
        let mut by_name = HashMap::with_hasher(lattice_engine::FastHasher::default());
        for spec in all_commands() {
            let top = entries.len();
            by_name.insert(spec.name.as_bytes().into(), top);
            entries.push(Entry {
                name: spec.name.to_string(),
                spec,
                parent: None,
                stats: CmdStats::default(),
            });
            for sub in spec.subcommands {
                let name = format!("{}|{}", spec.name, sub.name);
                if FLAT_CONTAINERS.contains(&spec.name) {
                    by_name.insert(name.into_bytes().into(), top);
                    continue;
                }
                by_name.insert(name.as_bytes().into(), entries.len());
                entries.push(Entry {
                    name,
                    spec: sub,
                    parent: Some(top),
                    stats: CmdStats::default(),
                });
            }
        }
        Self { entries, by_name }
    }

    /// Every slot, in table order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// A slot by index.
    pub fn get(&self, slot: usize) -> Option<&Entry> {
        self.entries.get(slot)
    }

    /// A slot by full name (`get`, `config|set`; case-insensitive).
    pub fn find(&self, name: &[u8]) -> Option<usize> {
        let mut buf = [0u8; MAX_NAME];
        let lower = lowercase_into(name, &mut buf)?;
        self.by_name.get(lower).copied()
    }

    /// Resolves argv as Redis's `lookupCommand` does, without allocating:
    /// `None` for an unknown command or an unknown subcommand (Redis keeps
    /// no statistics for those).
    pub fn lookup(&self, args: &[Bytes]) -> Option<Lookup> {
        let name = args.first()?;
        let top = self.find(name)?;
        let top_entry = self.entries.get(top)?;
        let spec = top_entry.spec;
        // A container alone (`CLIENT`) resolves to itself; its arity check
        // then fails (or passes, for `COMMAND`).
        if spec.subcommands.is_empty() || args.len() == 1 {
            return Some(Lookup {
                slot: top,
                spec,
                arity_fails: !spec.arity_ok(args.len()),
            });
        }
        let sub_name = args.get(1)?;
        let sub = spec.subcommand(sub_name)?;
        let mut buf = [0u8; MAX_NAME];
        let full_len = spec.name.len() + 1 + sub.name.len();
        let full = buf.get_mut(..full_len)?;
        let (a, rest) = full.split_at_mut(spec.name.len());
        a.copy_from_slice(spec.name.as_bytes());
        let (bar, b) = rest.split_at_mut(1);
        bar.copy_from_slice(b"|");
        b.copy_from_slice(sub.name.as_bytes());
        let slot = self.by_name.get(&*full).copied().unwrap_or(top);
        Some(Lookup {
            slot,
            spec: sub,
            arity_fails: !sub.arity_ok(args.len()),
        })
    }

    /// Counts one execution of `slot` that took `ns` nanoseconds; `timed`
    /// also records it in the latency histogram (`latency-tracking`).
    pub fn record_call(&self, slot: usize, ns: u64, failed: bool, timed: bool) {
        let Some(e) = self.entries.get(slot) else {
            return;
        };
        let s = &e.stats;
        s.calls.fetch_add(1, Ordering::Relaxed);
        s.usec.fetch_add(ns / 1000, Ordering::Relaxed);
        if failed {
            s.failed.fetch_add(1, Ordering::Relaxed);
        }
        if timed {
            s.histogram.get_or_init(Histogram::new).record(ns);
        }
    }

    /// Counts a command refused before execution.
    pub fn record_rejected(&self, slot: usize) {
        if let Some(e) = self.entries.get(slot) {
            e.stats.rejected.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// CONFIG RESETSTAT.
    pub fn reset(&self) {
        for e in &self.entries {
            e.stats.reset();
        }
    }

    /// The `# Commandstats` section body.
    pub fn write_commandstats(&self, out: &mut String) {
        for e in &self.entries {
            let c = e.stats.counts();
            if c.calls == 0 && c.rejected == 0 && c.failed == 0 {
                continue;
            }
            let per_call = if c.calls == 0 {
                0.0
            } else {
                c.usec as f64 / c.calls as f64
            };
            let _ = write!(
                out,
                "cmdstat_{}:calls={},usec={},usec_per_call={per_call:.2},rejected_calls={},failed_calls={}\r\n",
                e.name, c.calls, c.usec, c.rejected, c.failed
            );
        }
    }

    /// The `# Latencystats` section body, for the configured percentiles.
    pub fn write_latencystats(&self, percentiles: &[f64], out: &mut String) {
        for e in &self.entries {
            let Some(h) = e.stats.histogram() else {
                continue;
            };
            let _ = write!(out, "latency_percentiles_usec_{}:", e.name);
            for (i, p) in percentiles.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let v = h.value_at_percentile(*p) as f64 / 1000.0;
                let _ = write!(out, "p{p}={v:.3}");
            }
            out.push_str("\r\n");
        }
    }

    /// LATENCY HISTOGRAM [command …]: a map of command name to
    /// `{calls, histogram_usec: {bucket: cumulative count}}`. A container
    /// name also selects its subcommands; unknown names are skipped.
    pub fn latency_histogram(&self, names: &[Bytes]) -> Reply {
        let mut slots: Vec<usize> = Vec::new();
        if names.is_empty() {
            slots.extend(0..self.entries.len());
        } else {
            for n in names {
                let Some(slot) = self.find(n) else { continue };
                slots.push(slot);
                if self.entries.get(slot).is_some_and(|e| e.parent.is_none()) {
                    slots.extend(
                        self.entries
                            .iter()
                            .enumerate()
                            .filter(|(_, e)| e.parent == Some(slot))
                            .map(|(i, _)| i),
                    );
                }
            }
        }
        let mut out = Vec::new();
        for slot in slots {
            let Some(e) = self.entries.get(slot) else {
                continue;
            };
            let Some(h) = e.stats.histogram() else {
                continue;
            };
            let buckets = h
                .cumulative_usec()
                .into_iter()
                .map(|(us, n)| (Reply::Int(us as i64), Reply::Int(n as i64)))
                .collect();
            out.push((
                Reply::bulk_str(&e.name),
                Reply::Map(vec![
                    (Reply::bulk_str("calls"), Reply::Int(h.total() as i64)),
                    (Reply::bulk_str("histogram_usec"), Reply::Map(buckets)),
                ]),
            ));
        }
        Reply::Map(out)
    }
}

/// ASCII-lowercases `name` into `buf`; `None` if it is too long.
fn lowercase_into<'a>(name: &[u8], buf: &'a mut [u8; MAX_NAME]) -> Option<&'a [u8]> {
    let dst = buf.get_mut(..name.len())?;
    for (d, s) in dst.iter_mut().zip(name) {
        *d = s.to_ascii_lowercase();
    }
    Some(dst)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(a: &[&str]) -> Vec<Bytes> {
        a.iter()
            .map(|s| Bytes::copy_from_slice(s.as_bytes()))
            .collect()
    }

    #[test]
    fn lookup_follows_redis_resolution() {
        let r = Registry::new();
        let get = r.lookup(&argv(&["GeT", "k"])).unwrap();
        assert_eq!(r.get(get.slot).unwrap().name, "get");
        assert!(!get.arity_fails);
        assert!(r.lookup(&argv(&["get"])).unwrap().arity_fails);
        let cl = r.lookup(&argv(&["client", "LIST"])).unwrap();
        assert_eq!(r.get(cl.slot).unwrap().name, "client|list");
        // A container alone is charged to the container.
        let c = r.lookup(&argv(&["client"])).unwrap();
        assert_eq!(r.get(c.slot).unwrap().name, "client");
        assert!(c.arity_fails);
        // Unknown commands and subcommands have no statistics.
        assert!(r.lookup(&argv(&["nosuch"])).is_none());
        assert!(r.lookup(&argv(&["client", "nosuch"])).is_none());
        assert!(r.lookup(&argv(&[&"x".repeat(100)])).is_none());
        // DEBUG is one command in Redis.
        let d = r.lookup(&argv(&["debug", "sleep", "0"])).unwrap();
        assert_eq!(r.get(d.slot).unwrap().name, "debug");
        assert_eq!(d.spec.name, "sleep");
    }

    #[test]
    fn info_lines_as_redis() {
        let r = Registry::new();
        let get = r.find(b"get").unwrap();
        r.record_call(get, 15_000, false, true);
        r.record_rejected(get);
        r.record_rejected(get);
        let mut s = String::new();
        r.write_commandstats(&mut s);
        assert_eq!(
            s,
            "cmdstat_get:calls=1,usec=15,usec_per_call=15.00,rejected_calls=2,failed_calls=0\r\n"
        );
        let mut s = String::new();
        r.write_latencystats(&[50.0, 99.0, 99.9], &mut s);
        assert_eq!(
            s,
            "latency_percentiles_usec_get:p50=15.039,p99=15.039,p99.9=15.039\r\n"
        );
        let client = r.find(b"client").unwrap();
        r.record_rejected(client);
        let mut s = String::new();
        r.write_commandstats(&mut s);
        assert!(s.contains(
            "cmdstat_client:calls=0,usec=0,usec_per_call=0.00,rejected_calls=1,failed_calls=0\r\n"
        ));
        r.reset();
        let mut s = String::new();
        r.write_commandstats(&mut s);
        r.write_latencystats(&[50.0], &mut s);
        assert_eq!(s, "");
    }

    #[test]
    fn histogram_reply_selects_container_subcommands() {
        let r = Registry::new();
        r.record_call(r.find(b"config|get").unwrap(), 5_000, false, true);
        r.record_call(r.find(b"get").unwrap(), 5_000, false, true);
        let Reply::Map(m) = r.latency_histogram(&argv(&["config", "nosuch"])) else {
            panic!()
        };
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].0, Reply::bulk_str("config|get"));
        let Reply::Map(all) = r.latency_histogram(&[]) else {
            panic!()
        };
        assert_eq!(all.len(), 2);
    }
}
