//! The Prometheus text exposition format (version 0.0.4) of the server's
//! state: every family has `# HELP` and `# TYPE` lines, label values are
//! escaped, and series counts are bounded (one per command of the table,
//! per error prefix (≤ 129), per non-empty database, per hot key (≤ 32)).

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use super::cmdstats::CmdCounts;
use super::hotkeys;
use crate::shared::Shared;

/// Bucket bounds of `lattice_command_duration_seconds`, in nanoseconds
/// (1-2.5-5 steps from 1 µs to 1 s).
pub const DURATION_BUCKETS_NS: &[u64] = &[
    1_000,
    2_500,
    5_000,
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
];

/// Hot-key label values are cut to this many bytes.
const MAX_LABEL_KEY: usize = 128;

/// Escapes a label value (backslash, double quote, newline).
pub fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n");
}

fn scalar(out: &mut String, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
    family(out, name, kind, help);
    let _ = writeln!(out, "{name} {value}");
}

/// Seconds as Prometheus prints them (`0.0000025`, `1`).
fn seconds(ns: u64) -> String {
    format!("{}", ns as f64 / 1e9)
}

/// The log, Raft and snapshot families (present once the node is open).
fn write_log_metrics(out: &mut String, wp: &crate::write_path::WritePath) {
    let h = &wp.health;
    let snap = &wp.snapshots;
    let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    let flag = |a: &std::sync::atomic::AtomicBool| u8::from(a.load(Ordering::Relaxed));
    let m = wp.raft.metrics().borrow().clone();
    let rows: [(&str, &str, &str, String); 13] = [
        (
            "lattice_log_appends_total",
            "counter",
            "Batches of entries appended to the log (one fsync each under appendfsync always).",
            load(&h.appends).to_string(),
        ),
        (
            "lattice_log_fsyncs_total",
            "counter",
            "Fsyncs of the entry log.",
            load(&h.fsyncs).to_string(),
        ),
        (
            "lattice_log_bytes_written_total",
            "counter",
            "Bytes of entries written to the log.",
            load(&h.bytes_written).to_string(),
        ),
        (
            "lattice_log_entries",
            "gauge",
            "Entries held in the log (not yet covered by a snapshot).",
            wp.log_entries().to_string(),
        ),
        (
            "lattice_log_poisoned",
            "gauge",
            "1 when a failed fsync made the node refuse writes until restart.",
            flag(&h.poisoned).to_string(),
        ),
        (
            "lattice_log_disk_full",
            "gauge",
            "1 while appends wait for disk space (writes are refused).",
            flag(&h.disk_full).to_string(),
        ),
        (
            "lattice_raft_term",
            "gauge",
            "Current Raft term.",
            m.current_term.to_string(),
        ),
        (
            "lattice_raft_is_leader",
            "gauge",
            "1 when this node leads its group.",
            u8::from(m.current_leader == Some(m.id)).to_string(),
        ),
        (
            "lattice_raft_last_log_index",
            "gauge",
            "Index of the last log entry.",
            m.last_log_index.unwrap_or(0).to_string(),
        ),
        (
            "lattice_raft_last_applied_index",
            "gauge",
            "Index of the last entry applied to the dataset.",
            m.last_applied.map_or(0, |l| l.index).to_string(),
        ),
        (
            "lattice_raft_snapshot_index",
            "gauge",
            "Index the last snapshot covers.",
            m.snapshot.map_or(0, |l| l.index).to_string(),
        ),
        (
            "lattice_snapshots_total",
            "counter",
            "Snapshots written since start.",
            load(&snap.count).to_string(),
        ),
        (
            "lattice_snapshot_last_bytes",
            "gauge",
            "Size of the last snapshot.",
            load(&snap.last_bytes).to_string(),
        ),
    ];
    for (name, kind, help, value) in rows {
        scalar(out, name, kind, help, value);
    }
}

/// Renders every metric.
pub fn render(s: &Shared) -> String {
    let mut out = String::with_capacity(16 * 1024);
    let obs = &s.observe;
    let cmds = obs.commands.entries();

    let active: Vec<(String, CmdCounts)> = cmds
        .iter()
        .map(|e| (escape_label(&e.name), e.stats.counts()))
        .filter(|(_, c)| c.calls > 0 || c.rejected > 0 || c.failed > 0)
        .collect();
    family(
        &mut out,
        "lattice_commands_total",
        "counter",
        "Commands executed, by command (as INFO commandstats calls).",
    );
    for (name, c) in &active {
        let _ = writeln!(out, "lattice_commands_total{{cmd=\"{name}\"}} {}", c.calls);
    }
    family(
        &mut out,
        "lattice_commands_rejected_total",
        "counter",
        "Commands refused before execution (arity, authentication, memory), by command.",
    );
    for (name, c) in &active {
        let _ = writeln!(
            out,
            "lattice_commands_rejected_total{{cmd=\"{name}\"}} {}",
            c.rejected
        );
    }
    family(
        &mut out,
        "lattice_commands_failed_total",
        "counter",
        "Commands that executed and replied an error, by command.",
    );
    for (name, c) in &active {
        let _ = writeln!(
            out,
            "lattice_commands_failed_total{{cmd=\"{name}\"}} {}",
            c.failed
        );
    }

    family(
        &mut out,
        "lattice_command_duration_seconds",
        "histogram",
        "Command execution time, by command (from the latency-tracking histograms).",
    );
    for e in cmds {
        let Some(h) = e.stats.histogram() else {
            continue;
        };
        let name = escape_label(&e.name);
        for (bound, n) in DURATION_BUCKETS_NS
            .iter()
            .zip(h.cumulative_at(DURATION_BUCKETS_NS))
        {
            let _ = writeln!(
                out,
                "lattice_command_duration_seconds_bucket{{cmd=\"{name}\",le=\"{}\"}} {n}",
                seconds(*bound)
            );
        }
        let _ = writeln!(
            out,
            "lattice_command_duration_seconds_bucket{{cmd=\"{name}\",le=\"+Inf\"}} {}",
            h.total()
        );
        let sum = e.stats.counts().usec as f64 / 1e6;
        let _ = writeln!(
            out,
            "lattice_command_duration_seconds_sum{{cmd=\"{name}\"}} {sum}"
        );
        let _ = writeln!(
            out,
            "lattice_command_duration_seconds_count{{cmd=\"{name}\"}} {}",
            h.total()
        );
    }

    family(
        &mut out,
        "lattice_errors_total",
        "counter",
        "Error replies, by error prefix (as INFO errorstats).",
    );
    for (code, n) in obs.errors.counts() {
        let _ = writeln!(
            out,
            "lattice_errors_total{{error=\"{}\"}} {n}",
            escape_label(&code)
        );
    }

    // One short critical section for everything the engine knows.
    let (stats, blocked, keys) = {
        let core = s.core();
        let keys: Vec<(usize, usize)> = (0..core.engine.db_count())
            .filter_map(|i| core.engine.db(i).map(|d| (i, d.len())))
            .filter(|&(i, n)| i == 0 || n > 0)
            .collect();
        (core.engine.stats.clone(), core.blocked.len(), keys)
    };
    scalar(
        &mut out,
        "lattice_keyspace_hits_total",
        "counter",
        "Successful key lookups.",
        stats.keyspace_hits,
    );
    scalar(
        &mut out,
        "lattice_keyspace_misses_total",
        "counter",
        "Failed key lookups.",
        stats.keyspace_misses,
    );
    scalar(
        &mut out,
        "lattice_expired_keys_total",
        "counter",
        "Keys deleted because they expired.",
        stats.expired_keys,
    );
    scalar(
        &mut out,
        "lattice_evicted_keys_total",
        "counter",
        "Keys evicted by the maxmemory policy.",
        stats.evicted_keys,
    );
    scalar(
        &mut out,
        "lattice_connected_clients",
        "gauge",
        "Client connections open now.",
        s.client_count(),
    );
    scalar(
        &mut out,
        "lattice_blocked_clients",
        "gauge",
        "Clients waiting in a blocking command.",
        blocked,
    );
    scalar(
        &mut out,
        "lattice_used_memory_bytes",
        "gauge",
        "Bytes allocated by the server.",
        crate::alloc::allocated_bytes(),
    );
    scalar(
        &mut out,
        "lattice_maxmemory_bytes",
        "gauge",
        "The maxmemory setting (0: no limit).",
        s.config().maxmemory,
    );
    family(
        &mut out,
        "lattice_keys",
        "gauge",
        "Keys per database (database 0 and every non-empty one).",
    );
    for (db, n) in keys {
        let _ = writeln!(out, "lattice_keys{{db=\"{db}\"}} {n}");
    }
    let st = &s.stats;
    let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    scalar(
        &mut out,
        "lattice_connections_received_total",
        "counter",
        "Client connections accepted.",
        load(&st.total_connections_received),
    );
    scalar(
        &mut out,
        "lattice_rejected_connections_total",
        "counter",
        "Client connections refused (maxclients, protected mode).",
        load(&st.rejected_connections),
    );
    scalar(
        &mut out,
        "lattice_net_input_bytes_total",
        "counter",
        "Bytes read from clients.",
        load(&st.net_input_bytes),
    );
    scalar(
        &mut out,
        "lattice_net_output_bytes_total",
        "counter",
        "Bytes written to clients.",
        load(&st.net_output_bytes),
    );
    scalar(
        &mut out,
        "lattice_uptime_seconds",
        "gauge",
        "Seconds since the server started.",
        s.started.elapsed().as_secs(),
    );
    scalar(
        &mut out,
        "lattice_slowlog_length",
        "gauge",
        "Entries in the slow log.",
        obs.slowlog.len(),
    );
    if let Some(wp) = s.write_path() {
        write_log_metrics(&mut out, wp);
    }
    family(
        &mut out,
        "lattice_hotkey_accesses",
        "gauge",
        "Estimated recent accesses of the hottest keys (sampled top-K, halved every minute).",
    );
    for (db, key, n) in obs.hotkeys.top(None, hotkeys::K) {
        let cut = key.get(..key.len().min(MAX_LABEL_KEY)).unwrap_or_default();
        let label = escape_label(&String::from_utf8_lossy(cut));
        let _ = writeln!(
            out,
            "lattice_hotkey_accesses{{db=\"{db}\",key=\"{label}\"}} {n}"
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_escaping() {
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn seconds_format() {
        assert_eq!(seconds(2_500), "0.0000025");
        assert_eq!(seconds(1_000_000_000), "1");
    }

    #[test]
    fn every_family_has_help_and_type_and_samples_belong_to_one() {
        let shared = Shared::new(crate::ServerConfig::default());
        let obs = &shared.observe;
        obs.commands.record_call(
            obs.commands.find(b"get").unwrap_or_default(),
            3_000,
            false,
            true,
        );
        obs.commands
            .record_rejected(obs.commands.find(b"set").unwrap_or_default());
        obs.errors.record(b"WRONGTYPE x");
        obs.hotkeys.record(0, [&b"we\"ird\nkey"[..]]);
        let text = render(&shared);
        let mut families: Vec<(String, String)> = Vec::new();
        let mut helps = 0;
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                helps += 1;
                assert!(
                    rest.split_once(' ').is_some_and(|(_, h)| !h.is_empty()),
                    "{line}"
                );
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap();
                families.push((name.to_string(), kind.to_string()));
            } else {
                let name = line.split(['{', ' ']).next().unwrap();
                let (fam, kind) = families.last().unwrap();
                let ok = name == fam
                    || (kind == "histogram"
                        && [
                            format!("{fam}_bucket"),
                            format!("{fam}_sum"),
                            format!("{fam}_count"),
                        ]
                        .contains(&name.to_string()));
                assert!(ok, "sample {line} is not in family {fam}");
            }
        }
        assert_eq!(helps, families.len());
        for want in [
            "lattice_commands_total{cmd=\"get\"} 1",
            "lattice_commands_rejected_total{cmd=\"set\"} 1",
            "lattice_command_duration_seconds_bucket{cmd=\"get\",le=\"0.0000025\"} 0",
            "lattice_command_duration_seconds_bucket{cmd=\"get\",le=\"0.000005\"} 1",
            "lattice_command_duration_seconds_bucket{cmd=\"get\",le=\"+Inf\"} 1",
            "lattice_command_duration_seconds_count{cmd=\"get\"} 1",
            "lattice_errors_total{error=\"WRONGTYPE\"} 1",
            "lattice_keys{db=\"0\"} 0",
            "lattice_hotkey_accesses{db=\"0\",key=\"we\\\"ird\\nkey\"} 8",
        ] {
            assert!(text.contains(want), "missing {want} in\n{text}");
        }
    }
}
