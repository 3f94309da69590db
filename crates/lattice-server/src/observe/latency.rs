//! The latency monitor (LATENCY LATEST/HISTORY/RESET/GRAPH/DOCTOR/HELP; the
//! HISTOGRAM subcommand is served from the command statistics).
//!
//! As in Redis, an event ("command", "fast-command") gets a sample when
//! something took at least `latency-monitor-threshold` milliseconds; each
//! event keeps its last 160 samples, one per second at most (a second sample
//! in the same second only raises that second's value), plus its all-time
//! maximum. Memory is bounded by the fixed number of event names.

use std::collections::BTreeMap;
use std::sync::Mutex;

use bytes::Bytes;
use lattice_engine::{CmdError, Reply};

/// Samples kept per event (Redis's `LATENCY_TS_LEN`).
pub const TS_LEN: usize = 160;

/// Width of LATENCY GRAPH.
const GRAPH_COLS: usize = 80;

/// One second's worst latency.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sample {
    /// Unix time in seconds (0: unused slot).
    pub time: u64,
    /// Milliseconds.
    pub latency: u64,
}

/// One event's ring of samples.
#[derive(Debug, Clone)]
struct Series {
    samples: [Sample; TS_LEN],
    idx: usize,
    max: u64,
}

impl Series {
    fn new() -> Self {
        Self {
            samples: [Sample::default(); TS_LEN],
            idx: 0,
            max: 0,
        }
    }

    /// Used samples, oldest first.
    fn ordered(&self) -> Vec<Sample> {
        (0..TS_LEN)
            .filter_map(|j| self.samples.get((self.idx + j) % TS_LEN).copied())
            .filter(|s| s.time != 0)
            .collect()
    }

    fn latest(&self) -> Sample {
        self.samples
            .get((self.idx + TS_LEN - 1) % TS_LEN)
            .copied()
            .unwrap_or_default()
    }
}

/// Statistics of one event for the doctor.
struct Analysis {
    samples: u64,
    avg: u64,
    mad: u64,
    period: u64,
}

fn analyze(s: &Series, now: u64) -> Analysis {
    let samples = s.ordered();
    let n = samples.len() as u64;
    if n == 0 {
        return Analysis {
            samples: 0,
            avg: 0,
            mad: 0,
            period: 0,
        };
    }
    let sum: u64 = samples.iter().map(|x| x.latency).sum();
    let avg = sum / n;
    let oldest = samples.iter().map(|x| x.time).min().unwrap_or(now);
    let period = now.saturating_sub(oldest).max(1);
    let mad = samples.iter().map(|x| avg.abs_diff(x.latency)).sum::<u64>() / n;
    Analysis {
        samples: n,
        avg,
        mad,
        period,
    }
}

/// Settings the doctor's advice depends on.
#[derive(Debug, Clone, Copy)]
pub struct DoctorContext {
    /// `latency-monitor-threshold` (ms).
    pub threshold_ms: u64,
    /// `slowlog-log-slower-than` (µs; negative disables).
    pub slowlog_slower_than: i64,
}

/// All events.
#[derive(Default)]
pub struct LatencyMonitor {
    events: Mutex<BTreeMap<String, Series>>,
}

impl LatencyMonitor {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Series>> {
        self.events
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records that `event` took `latency_ms` at unix second `now`
    /// (Redis's `latencyAddSample`).
    pub fn add_sample(&self, event: &str, latency_ms: u64, now: u64) {
        let mut g = self.lock();
        let s = g.entry(event.to_string()).or_insert_with(Series::new);
        s.max = s.max.max(latency_ms);
        let prev = (s.idx + TS_LEN - 1) % TS_LEN;
        if let Some(p) = s.samples.get_mut(prev) {
            if p.time == now {
                p.latency = p.latency.max(latency_ms);
                return;
            }
        }
        if let Some(slot) = s.samples.get_mut(s.idx) {
            *slot = Sample {
                time: now,
                latency: latency_ms,
            };
        }
        s.idx = (s.idx + 1) % TS_LEN;
    }

    /// Forgets events (all when `names` is empty); returns how many.
    pub fn reset(&self, names: &[Bytes]) -> usize {
        let mut g = self.lock();
        if names.is_empty() {
            let n = g.len();
            g.clear();
            return n;
        }
        let mut n = 0;
        for name in names {
            let hit: Vec<String> = g
                .keys()
                .filter(|k| k.as_bytes().eq_ignore_ascii_case(name))
                .cloned()
                .collect();
            for k in hit {
                g.remove(&k);
                n += 1;
            }
        }
        n
    }

    /// `(event, latest sample, all-time max)` for every event.
    pub fn latest(&self) -> Vec<(String, Sample, u64)> {
        self.lock()
            .iter()
            .map(|(k, s)| (k.clone(), s.latest(), s.max))
            .collect()
    }

    /// An event's samples, oldest first (`None`: no such event).
    pub fn history(&self, event: &[u8]) -> Option<Vec<Sample>> {
        let g = self.lock();
        let name = std::str::from_utf8(event).ok()?;
        g.get(name).map(Series::ordered)
    }

    /// LATENCY GRAPH's text.
    pub fn graph(&self, event: &[u8], now: u64) -> Option<String> {
        let g = self.lock();
        let name = std::str::from_utf8(event).ok()?;
        let s = g.get(name)?;
        let samples = s.ordered();
        let min = samples.iter().map(|x| x.latency).min().unwrap_or(0);
        let max = samples.iter().map(|x| x.latency).max().unwrap_or(0);
        let mut out = format!(
            "{name} - high {max} ms, low {min} ms (all time high {} ms)\n",
            s.max
        );
        out.push_str(&"-".repeat(GRAPH_COLS));
        out.push('\n');
        let seq: Vec<(f64, String)> = samples
            .iter()
            .map(|x| (x.latency as f64, age_label(now.saturating_sub(x.time))))
            .collect();
        sparkline(&mut out, &seq, GRAPH_COLS, 4);
        Some(out)
    }

    /// LATENCY DOCTOR's report (Redis's `createLatencyReport`, for the
    /// events Lattice produces).
    pub fn doctor(&self, ctx: DoctorContext, now: u64) -> String {
        let g = self.lock();
        if g.is_empty() && ctx.threshold_ms == 0 {
            return "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. If we weren't in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n".into();
        }
        let mut report = String::new();
        let (mut slowlog_enabled, mut slowlog_tuning, mut slowlog_inspect) = (false, false, false);
        let (mut scheduler, mut large_objects) = (false, false);
        let mut advices = 0;
        for (i, (event, s)) in g.iter().enumerate() {
            if i == 0 {
                report.push_str("Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n\n");
            }
            let a = analyze(s, now);
            let period = if a.samples == 0 {
                0.0
            } else {
                a.period as f64 / a.samples as f64
            };
            report.push_str(&format!(
                "{}. {event}: {} latency spikes (average {}ms, mean deviation {}ms, period {period:.2} sec). Worst all time event {}ms.",
                i + 1,
                a.samples,
                a.avg,
                a.mad,
                s.max
            ));
            if event.eq_ignore_ascii_case("command") {
                if ctx.slowlog_slower_than < 0 {
                    slowlog_enabled = true;
                    advices += 1;
                } else if ctx.slowlog_slower_than / 1000 > ctx.threshold_ms as i64 {
                    slowlog_tuning = true;
                    advices += 1;
                }
                slowlog_inspect = true;
                large_objects = true;
                advices += 2;
            }
            if event.eq_ignore_ascii_case("fast-command") {
                scheduler = true;
                advices += 1;
            }
            report.push('\n');
        }
        if g.is_empty() && advices == 0 {
            report.push_str("Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit. I honestly think you ought to sit down calmly, take a stress pill, and think things over.\n");
            return report;
        }
        if advices == 0 {
            report.push_str("\nWhile there are latency events logged, I'm not able to suggest any easy fix. Please use the Redis community to get some help, providing this report in your help request.\n");
            return report;
        }
        report.push_str("\nI have a few advices for you:\n\n");
        if slowlog_enabled {
            report.push_str(&format!("- There are latency issues with potentially slow commands you are using. Try to enable the Slow Log Redis feature using the command 'CONFIG SET slowlog-log-slower-than {}'. If the Slow log is disabled Redis is not able to log slow commands execution for you.\n", ctx.threshold_ms * 1000));
        }
        if slowlog_tuning {
            report.push_str(&format!("- Your current Slow Log configuration only logs events that are slower than your configured latency monitor threshold. Please use 'CONFIG SET slowlog-log-slower-than {}'.\n", ctx.threshold_ms * 1000));
        }
        if slowlog_inspect {
            report.push_str("- Check your Slow Log to understand what are the commands you are running which are too slow to execute. Please check https://redis.io/commands/slowlog for more information.\n");
        }
        if scheduler {
            report.push_str("- The system is slow to execute Redis code paths not containing system calls. This usually means the system does not provide Redis CPU time to run for long periods. You should try to:\n  1) Lower the system load.\n  2) Use a computer / VM just for Redis if you are running other software in the same system.\n  3) Check if you have a \"noisy neighbour\" problem.\n  4) Check with 'redis-cli --intrinsic-latency 100' what is the intrinsic latency in your system.\n  5) Check if the problem is allocator-related by recompiling Redis with MALLOC=libc, if you are using Jemalloc. However this may create fragmentation problems.\n");
        }
        if large_objects {
            report.push_str("- Deleting, expiring or evicting (because of maxmemory policy) large objects is a blocking operation. If you have very large objects that are often deleted, expired, or evicted, try to fragment those objects into multiple smaller objects.\n");
        }
        report
    }
}

/// "12s", "3m", "2h", "1d": how long ago a sample was taken.
fn age_label(elapsed: u64) -> String {
    if elapsed < 60 {
        format!("{elapsed}s")
    } else if elapsed < 3600 {
        format!("{}m", elapsed / 60)
    } else if elapsed < 86400 {
        format!("{}h", elapsed / 3600)
    } else {
        format!("{}d", elapsed / 86400)
    }
}

/// Redis's sparkline renderer (`sparklineRender` with `SPARKLINE_FILL`):
/// `rows` rows of `_o#|` bars, then each sample's label written vertically.
fn sparkline(out: &mut String, seq: &[(f64, String)], columns: usize, rows: usize) {
    let min = seq.iter().map(|s| s.0).fold(f64::INFINITY, f64::min);
    let max = seq.iter().map(|s| s.0).fold(f64::NEG_INFINITY, f64::max);
    for (n, chunk) in seq.chunks(columns.max(1)).enumerate() {
        if n != 0 {
            out.push('\n');
        }
        render_range(out, chunk, min, max, rows);
    }
}

fn render_range(out: &mut String, seq: &[(f64, String)], min: f64, max: f64, rows: usize) {
    const FILL: [char; 3] = ['_', 'o', '#'];
    let charset_len = FILL.len() as i64;
    let mut relmax = max - min;
    if relmax == 0.0 {
        relmax = 1.0;
    }
    let steps = charset_len * rows as i64;
    let label_margin_top = 1;
    let mut row = 0usize;
    loop {
        let mut more = false;
        let mut chars = vec![' '; seq.len()];
        for (j, (value, label)) in seq.iter().enumerate() {
            let relval = value - min;
            // C: `step = (int) (relval*steps)/relmax;`
            let step = (((relval * steps as f64) as i64) as f64 / relmax) as i64;
            let step = step.clamp(0, steps - 1);
            if row < rows {
                let charidx = step - (rows - row - 1) as i64 * charset_len;
                more = true;
                if let Some(c) = usize::try_from(charidx).ok().and_then(|i| FILL.get(i)) {
                    if let Some(slot) = chars.get_mut(j) {
                        *slot = *c;
                    }
                } else if charidx >= charset_len {
                    if let Some(slot) = chars.get_mut(j) {
                        *slot = '|';
                    }
                }
            } else {
                if row - rows < label_margin_top {
                    more = true;
                    break;
                }
                let label_char = row - rows - label_margin_top;
                if let Some(c) = label.chars().nth(label_char) {
                    more = true;
                    if let Some(slot) = chars.get_mut(j) {
                        *slot = c;
                    }
                }
            }
        }
        if !more {
            break;
        }
        row += 1;
        out.extend(chars);
        out.push('\n');
    }
}

/// The LATENCY subcommands other than HISTOGRAM.
pub fn command(
    mon: &LatencyMonitor,
    ctx: DoctorContext,
    sub: &str,
    args: &[Bytes],
    now: u64,
) -> Result<Reply, CmdError> {
    let event = || args.get(2).map_or(&[][..], |b| &b[..]);
    match sub {
        "latest" => Ok(Reply::Array(
            mon.latest()
                .into_iter()
                .map(|(name, s, max)| {
                    Reply::Array(vec![
                        Reply::bulk_str(&name),
                        Reply::Int(s.time as i64),
                        Reply::Int(s.latency as i64),
                        Reply::Int(max as i64),
                    ])
                })
                .collect(),
        )),
        "history" => Ok(Reply::Array(
            mon.history(event())
                .unwrap_or_default()
                .into_iter()
                .map(|s| Reply::Array(vec![Reply::Int(s.time as i64), Reply::Int(s.latency as i64)]))
                .collect(),
        )),
        "reset" => Ok(Reply::Int(mon.reset(args.get(2..).unwrap_or_default()) as i64)),
        "graph" => match mon.graph(event(), now) {
            Some(g) => Ok(Reply::Verbatim(g)),
            None => Err(CmdError::err(format!(
                "No samples available for event '{}'",
                String::from_utf8_lossy(event())
            ))),
        },
        "doctor" => Ok(Reply::Verbatim(mon.doctor(ctx, now))),
        "help" => Ok(crate::builtin::help(&[
            "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "DOCTOR",
            "    Return a human readable latency analysis report.",
            "GRAPH <event>",
            "    Return an ASCII latency graph for the <event> class.",
            "HISTORY <event>",
            "    Return time-latency samples for the <event> class.",
            "LATEST",
            "    Return the latest latency samples for all events.",
            "RESET [<event> ...]",
            "    Reset latency data of one or more <event> classes.",
            "    (default: reset all data for all event classes)",
            "HISTOGRAM [COMMAND ...]",
            "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
            "    If no commands are specified then all histograms are replied.",
            "HELP",
            "    Prints this help.",
        ])),
        // `resolve` rejects unknown subcommands before we get here.
        _ => Err(CmdError::Syntax),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_sample_per_second_and_bounded() {
        let m = LatencyMonitor::default();
        m.add_sample("command", 20, 100);
        m.add_sample("command", 50, 100);
        m.add_sample("command", 30, 100);
        assert_eq!(
            m.history(b"command").unwrap(),
            vec![Sample {
                time: 100,
                latency: 50
            }]
        );
        for t in 0..500 {
            m.add_sample("command", t, 1000 + t);
        }
        let h = m.history(b"command").unwrap();
        assert_eq!(h.len(), TS_LEN);
        assert_eq!(h.first().unwrap().time, 1000 + 500 - TS_LEN as u64);
        let latest = m.latest();
        assert_eq!(
            latest,
            vec![(
                "command".to_string(),
                Sample {
                    time: 1499,
                    latency: 499
                },
                499
            )]
        );
        assert_eq!(
            m.reset(&[Bytes::from_static(b"COMMAND"), Bytes::from_static(b"x")]),
            1
        );
        assert!(m.latest().is_empty());
        assert!(m.history(b"command").is_none());
    }

    #[test]
    fn graph_matches_redis_rendering() {
        let m = LatencyMonitor::default();
        m.add_sample("command", 50, 1000);
        // redis-server 7.0 printed exactly this for one 50 ms sample 28 s old.
        let want = format!(
            "command - high 50 ms, low 50 ms (all time high 50 ms)\n{}\n \n \n \n_\n \n2\n8\ns\n",
            "-".repeat(80)
        );
        assert_eq!(m.graph(b"command", 1028).unwrap(), want);
        m.add_sample("command", 10, 1030);
        let g = m.graph(b"command", 1030).unwrap();
        let rows: Vec<&str> = g.lines().skip(2).take(4).collect();
        assert_eq!(rows, vec!["# ", "| ", "| ", "|_"]);
        assert!(m.graph(b"nosuch", 0).is_none());
    }

    #[test]
    fn doctor_texts() {
        let m = LatencyMonitor::default();
        let off = DoctorContext {
            threshold_ms: 0,
            slowlog_slower_than: 10_000,
        };
        assert!(m.doctor(off, 0).starts_with("I'm sorry, Dave"));
        let on = DoctorContext {
            threshold_ms: 10,
            slowlog_slower_than: 10_000,
        };
        assert!(m.doctor(on, 0).starts_with("Dave, no latency spike"));
        m.add_sample("command", 50, 100);
        let r = m.doctor(on, 128);
        assert!(r.contains("1. command: 1 latency spikes (average 50ms, mean deviation 0ms, period 28.00 sec). Worst all time event 50ms."), "{r}");
        assert!(r.contains("- Check your Slow Log"), "{r}");
    }
}
