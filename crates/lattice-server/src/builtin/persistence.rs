//! SAVE, BGSAVE, BGREWRITEAOF and LASTSAVE over the log's snapshots, and
//! the INFO persistence section.
//!
//! Every write is already in the log when it is acknowledged, so a
//! snapshot is about compaction and restart time, not durability: SAVE and
//! BGSAVE snapshot the dataset and purge the log it covers. BGREWRITEAOF
//! does the same (a snapshot is what an AOF rewrite produces in Redis 7:
//! a base file plus the increments after it).

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use lattice_engine::{CmdError, Reply};

use crate::dispatch::Conn;
use crate::shared::{loading, Shared};

/// SAVE: a snapshot, waited for.
pub(super) async fn save(conn: &mut Conn) -> Result<Reply, CmdError> {
    let wp = conn.shared.write_path().ok_or_else(loading)?;
    wp.save().await?;
    Ok(Reply::Ok)
}

/// BGSAVE [SCHEDULE] / BGREWRITEAOF: a snapshot in the background.
pub(super) async fn bgsave(conn: &mut Conn, name: &str, args: &[Bytes]) -> Result<Reply, CmdError> {
    let schedule = match args.get(1) {
        None => false,
        Some(a) if name == "bgsave" && a.eq_ignore_ascii_case(b"schedule") => true,
        Some(_) => return Err(CmdError::Syntax),
    };
    let wp = conn.shared.write_path().ok_or_else(loading)?;
    let started = wp.start_snapshot().await?;
    Ok(match (name, started, schedule) {
        ("bgrewriteaof", true, _) => {
            Reply::Status("Background append only file rewriting started".into())
        }
        ("bgrewriteaof", false, _) => {
            Reply::Status("Background append only file rewriting scheduled".into())
        }
        (_, true, _) => Reply::Status("Background saving started".into()),
        (_, false, true) => Reply::Status("Background saving scheduled".into()),
        (_, false, false) => {
            return Err(CmdError::err("Background save already in progress"));
        }
    })
}

/// LASTSAVE: Unix time of the last snapshot (start-up if none yet).
pub(super) fn lastsave(conn: &mut Conn) -> Result<Reply, CmdError> {
    let wp = conn.shared.write_path().ok_or_else(loading)?;
    Ok(Reply::Int(
        wp.snapshots.last_save_unix.load(Ordering::SeqCst) as i64,
    ))
}

/// INFO persistence: Redis's field names where they mean the same thing
/// here, then Lattice's log fields.
pub fn section(s: &Shared, out: &mut String) {
    let dirty = s.core().engine.stats.dirty;
    let Some(wp) = s.write_path() else {
        let _ = write!(out, "# Persistence\r\nloading:1\r\nasync_loading:0\r\n");
        return;
    };
    let cfg = s.config();
    let snap = &wp.snapshots;
    let in_progress = snap.in_progress.load(Ordering::SeqCst);
    let ok = |b: bool| if b { "ok" } else { "err" };
    let changes = dirty.saturating_sub(wp.dirty_at_snapshot.load(Ordering::Relaxed));
    let h = &wp.health;
    let poisoned = h.poisoned.load(Ordering::SeqCst);
    let disk_full = h.disk_full.load(Ordering::SeqCst);
    let fsync = cfg.get("appendfsync").unwrap_or_default();
    let metrics = wp.raft.metrics().borrow().clone();
    let _ = write!(
        out,
        "# Persistence\r\nloading:0\r\nasync_loading:0\r\ncurrent_cow_peak:0\r\ncurrent_cow_size:0\r\ncurrent_cow_size_age:0\r\ncurrent_fork_perc:0.00\r\ncurrent_save_keys_processed:0\r\ncurrent_save_keys_total:0\r\nrdb_changes_since_last_save:{changes}\r\nrdb_bgsave_in_progress:{}\r\nrdb_last_save_time:{}\r\nrdb_last_bgsave_status:{}\r\nrdb_last_bgsave_time_sec:{}\r\nrdb_current_bgsave_time_sec:-1\r\nrdb_saves:{}\r\nrdb_last_cow_size:0\r\nrdb_last_load_keys_expired:0\r\nrdb_last_load_keys_loaded:{}\r\naof_enabled:{}\r\naof_rewrite_in_progress:{}\r\naof_rewrite_scheduled:0\r\naof_last_rewrite_time_sec:-1\r\naof_current_rewrite_time_sec:-1\r\naof_last_bgrewrite_status:{}\r\naof_rewrites:{}\r\naof_rewrites_consecutive_failures:0\r\naof_last_write_status:{}\r\naof_last_cow_size:0\r\nmodule_fork_in_progress:0\r\nmodule_fork_last_cow_size:0\r\n",
        u8::from(in_progress),
        snap.last_save_unix.load(Ordering::SeqCst),
        ok(snap.last_ok.load(Ordering::SeqCst)),
        snap.last_duration_ms.load(Ordering::SeqCst) / 1000,
        snap.count.load(Ordering::SeqCst),
        wp.keys_loaded,
        u8::from(cfg.appendonly),
        u8::from(in_progress),
        ok(snap.last_ok.load(Ordering::SeqCst)),
        snap.count.load(Ordering::SeqCst),
        ok(!poisoned && !disk_full),
    );
    let _ = write!(
        out,
        "appendfsync:{fsync}\r\nlog_poisoned:{}\r\nlog_disk_full:{}\r\nlog_last_error:{}\r\nlog_entries:{}\r\nlog_appends:{}\r\nlog_fsyncs:{}\r\nlog_bytes_written:{}\r\nraft_last_log_index:{}\r\nraft_last_applied_index:{}\r\nraft_snapshot_index:{}\r\nsnapshot_last_bytes:{}\r\nsnapshot_last_duration_ms:{}\r\n",
        u8::from(poisoned),
        u8::from(disk_full),
        h.error().unwrap_or_default().replace(['\r', '\n'], " "),
        wp.log_entries(),
        h.appends.load(Ordering::Relaxed),
        h.fsyncs.load(Ordering::Relaxed),
        h.bytes_written.load(Ordering::Relaxed),
        metrics.last_log_index.unwrap_or(0),
        metrics.last_applied.map_or(0, |l| l.index),
        metrics.snapshot.map_or(0, |l| l.index),
        snap.last_bytes.load(Ordering::SeqCst),
        snap.last_duration_ms.load(Ordering::SeqCst),
    );
}
