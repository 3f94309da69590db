//! INFO: Redis's sections and field names, so existing dashboards and client
//! libraries that parse INFO keep working.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use lattice_engine::Reply;

use crate::alloc::{allocated_bytes, peak_bytes};
use crate::dispatch::Conn;
use crate::shared::{unix_ms, Shared};

/// Bytes as Redis's `bytesToHuman`.
pub fn human(n: u64) -> String {
    let f = n as f64;
    if n < 1024 {
        format!("{n}B")
    } else if n < 1024 * 1024 {
        format!("{:.2}K", f / 1024.0)
    } else if n < 1024 * 1024 * 1024 {
        format!("{:.2}M", f / (1024.0 * 1024.0))
    } else {
        format!("{:.2}G", f / (1024.0 * 1024.0 * 1024.0))
    }
}

/// CPU seconds (user, system) of this process, from /proc.
fn cpu_times() -> (f64, f64) {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return (0.0, 0.0);
    };
    // Fields after the parenthesised command name; utime and stime are 14 and 15.
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 100.0
    };
    (tick(11), tick(12))
}

fn section_server(s: &Shared, out: &mut String) {
    let cfg = s.config();
    let up = s.started.elapsed().as_secs();
    let _ = write!(
        out,
        "# Server\r\nredis_version:{}\r\nlattice_version:{}\r\nredis_mode:standalone\r\nos:{} {}\r\narch_bits:64\r\nmultiplexing_api:epoll\r\nprocess_id:{}\r\nrun_id:{}\r\ntcp_port:{}\r\nserver_time_usec:{}\r\nuptime_in_seconds:{}\r\nuptime_in_days:{}\r\nhz:{}\r\nconfigured_hz:{}\r\nexecutable:{}\r\nconfig_file:{}\r\n",
        crate::REDIS_VERSION,
        env!("CARGO_PKG_VERSION"),
        std::env::consts::OS,
        std::env::consts::ARCH,
        std::process::id(),
        s.run_id,
        s.port.load(Ordering::Relaxed),
        unix_ms() * 1000,
        up,
        up / 86400,
        cfg.hz,
        cfg.hz,
        std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_default(),
        cfg.file.map(|p| p.display().to_string()).unwrap_or_default(),
    );
}

fn section_clients(s: &Shared, out: &mut String) {
    let blocked = s.core().blocked.len();
    let _ = write!(
        out,
        "# Clients\r\nconnected_clients:{}\r\nmaxclients:{}\r\nblocked_clients:{}\r\ntracking_clients:{}\r\n",
        s.client_count(),
        s.config().maxclients,
        blocked,
        s.tracking.counts().0,
    );
}

/// Resident set size in bytes (`/proc/self/statm`), 0 where unavailable.
pub fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

fn section_memory(s: &Shared, out: &mut String) {
    let used = allocated_bytes() as u64;
    let peak = peak_bytes() as u64;
    let rss = resident_bytes();
    let frag = if used == 0 {
        0.0
    } else {
        rss as f64 / used as f64
    };
    let cfg = s.config();
    let _ = write!(
        out,
        "# Memory\r\nused_memory:{used}\r\nused_memory_human:{}\r\nused_memory_rss:{rss}\r\nused_memory_rss_human:{}\r\nused_memory_peak:{peak}\r\nused_memory_peak_human:{}\r\nmaxmemory:{}\r\nmaxmemory_human:{}\r\nmaxmemory_policy:{}\r\nmem_fragmentation_ratio:{frag:.2}\r\nmem_allocator:mimalloc\r\n",
        human(used),
        human(rss),
        human(peak),
        cfg.maxmemory,
        human(cfg.maxmemory),
        cfg.engine.maxmemory_policy.name(),
    );
}

fn section_persistence(s: &Shared, out: &mut String) {
    super::persistence::section(s, out);
}

fn section_stats(s: &Shared, out: &mut String) {
    let st = &s.stats;
    let e = s.core().engine.stats.clone();
    let ps = s.pubsub.counts();
    let (_, tracked_keys, tracked_items, prefixes) = s.tracking.counts();
    let l = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    let _ = write!(
        out,
        "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\ninstantaneous_ops_per_sec:{}\r\ntotal_net_input_bytes:{}\r\ntotal_net_output_bytes:{}\r\nrejected_connections:{}\r\nexpired_keys:{}\r\nevicted_keys:{}\r\nkeyspace_hits:{}\r\nkeyspace_misses:{}\r\npubsub_channels:{}\r\npubsub_patterns:{}\r\npubsubshard_channels:{}\r\ntracking_total_keys:{}\r\ntracking_total_items:{}\r\ntracking_total_prefixes:{}\r\ntotal_error_replies:{}\r\n",
        l(&st.total_connections_received),
        l(&st.total_commands_processed),
        l(&st.instantaneous_ops_per_sec),
        l(&st.net_input_bytes),
        l(&st.net_output_bytes),
        l(&st.rejected_connections),
        e.expired_keys,
        e.evicted_keys,
        e.keyspace_hits,
        e.keyspace_misses,
        ps.0,
        ps.1,
        ps.2,
        tracked_keys,
        tracked_items,
        prefixes,
        l(&st.total_error_replies),
    );
}

fn section_replication(out: &mut String) {
    out.push_str("# Replication\r\nrole:master\r\nconnected_slaves:0\r\nmaster_repl_offset:0\r\n");
}

/// `INFO raft`: the node's consensus state (Lattice's own section; a group
/// of one until replication exists).
fn section_raft(s: &Shared, out: &mut String) {
    out.push_str("# Raft\r\n");
    let Some(wp) = s.write_path() else {
        out.push_str("raft_enabled:0\r\n");
        return;
    };
    let m = wp.raft.metrics().borrow().clone();
    let state = match m.state {
        openraft::ServerState::Leader => "leader",
        openraft::ServerState::Follower => "follower",
        openraft::ServerState::Candidate => "candidate",
        openraft::ServerState::Learner => "learner",
        openraft::ServerState::Shutdown => "shutdown",
    };
    let members: Vec<String> = m
        .membership_config
        .membership()
        .voter_ids()
        .map(|id| id.to_string())
        .collect();
    let last_log = m.last_log_index.unwrap_or(0);
    let applied = m.last_applied.map_or(0, |l| l.index);
    let _ = write!(
        out,
        "raft_enabled:1\r\nnode_id:{}\r\nstate:{state}\r\nterm:{}\r\nleader_id:{}\r\nvoters:{}\r\nlast_log_index:{last_log}\r\nlast_applied_index:{applied}\r\napply_lag:{}\r\nsnapshot_index:{}\r\npurged_index:{}\r\nlog_entries:{}\r\n",
        m.id,
        m.current_term,
        m.current_leader.map_or_else(|| "-".to_owned(), |l| l.to_string()),
        members.join(","),
        last_log.saturating_sub(applied),
        m.snapshot.map_or(0, |l| l.index),
        m.purged.map_or(0, |l| l.index),
        wp.log_entries(),
    );
}

fn section_cpu(out: &mut String) {
    let (user, sys) = cpu_times();
    let _ = write!(
        out,
        "# CPU\r\nused_cpu_sys:{sys:.6}\r\nused_cpu_user:{user:.6}\r\n"
    );
}

fn section_keyspace(s: &Shared, out: &mut String) {
    out.push_str("# Keyspace\r\n");
    let core = s.core();
    for i in 0..core.engine.db_count() {
        let Some(db) = core.engine.db(i) else {
            continue;
        };
        if !db.is_empty() {
            let _ = write!(
                out,
                "db{i}:keys={},expires={},avg_ttl=0\r\n",
                db.len(),
                db.volatile_len()
            );
        }
    }
}

const DEFAULT: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "errorstats",
    "keyspace",
];

/// Every section, in Redis's order (`INFO all` / `everything`).
const ALL: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "commandstats",
    "errorstats",
    "latencystats",
    "keyspace",
    "raft",
];

/// Builds the INFO text for the requested sections.
pub fn info_text(s: &Shared, args: &[Bytes]) -> String {
    let mut wanted: Vec<String> = args
        .iter()
        .skip(1)
        .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
        .collect();
    if wanted.iter().any(|w| w == "all" || w == "everything") {
        wanted = ALL.iter().map(|s| s.to_string()).collect();
    } else if wanted.is_empty() || wanted.iter().any(|w| w == "default") {
        wanted.extend(DEFAULT.iter().map(|s| s.to_string()));
    }
    let mut out = String::new();
    for section in ALL {
        if !wanted.iter().any(|w| w == section) {
            continue;
        }
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        match *section {
            "server" => section_server(s, &mut out),
            "clients" => section_clients(s, &mut out),
            "memory" => section_memory(s, &mut out),
            "persistence" => section_persistence(s, &mut out),
            "stats" => section_stats(s, &mut out),
            "replication" => section_replication(&mut out),
            "cpu" => section_cpu(&mut out),
            "commandstats" => crate::observe::info_commandstats(s, &mut out),
            "errorstats" => crate::observe::info_errorstats(s, &mut out),
            "latencystats" => crate::observe::info_latencystats(s, &mut out),
            "raft" => section_raft(s, &mut out),
            _ => section_keyspace(s, &mut out),
        }
    }
    out
}

pub(super) fn info(conn: &Conn, args: &[Bytes]) -> Reply {
    Reply::Verbatim(info_text(&conn.shared, args))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_sizes() {
        assert_eq!(human(512), "512B");
        assert_eq!(human(1536), "1.50K");
        assert_eq!(human(3 * 1024 * 1024), "3.00M");
    }
}
