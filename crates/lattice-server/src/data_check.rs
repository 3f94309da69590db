//! `lattice check`: verifies a data directory without changing it — the
//! entry log and the vote log record by record (checksums, then every
//! entry's payload decoded), and the snapshot file down to every key.
//!
//! The files are copied into a memory backend and the log is opened there,
//! so a torn tail that start-up would cut is reported, not repaired.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use lattice_storage::{FsyncPolicy, Log, LogOptions, MemBackend, StorageError};

/// What the check found.
#[derive(Debug, Default)]
pub struct DirReport {
    /// Human-readable findings, one per line.
    pub lines: Vec<String>,
    /// False if anything would stop start-up.
    pub ok: bool,
}

/// Copies a log directory into memory (read-only check).
fn load_dir(dir: &Path) -> std::io::Result<MemBackend> {
    let mem = MemBackend::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            let name = entry.file_name().to_string_lossy().into_owned();
            mem.put(&name, std::fs::read(entry.path())?);
        }
    }
    Ok(mem)
}

fn check_log(dir: &Path, label: &str, entries: bool, out: &mut DirReport) {
    if !dir.is_dir() {
        out.lines.push(format!(
            "{label}: {} does not exist (nothing logged yet)",
            dir.display()
        ));
        return;
    }
    let mem = match load_dir(dir) {
        Ok(m) => m,
        Err(e) => {
            out.ok = false;
            out.lines
                .push(format!("{label}: cannot read {}: {e}", dir.display()));
            return;
        }
    };
    // One scan: opening the in-memory copy verifies every record and
    // repairs a torn tail there only, which is what start-up would do.
    let opened = Log::open(
        Arc::new(mem),
        LogOptions {
            fsync: FsyncPolicy::No,
            ..LogOptions::default()
        },
    );
    let (log, recovery) = match opened {
        Ok(l) => l,
        Err(e) => {
            out.ok = false;
            out.lines.push(format!("{label}: {}: {e}", dir.display()));
            return;
        }
    };
    out.lines.push(format!(
        "{label}: {} segment(s), {} record(s), indexes {}..={}",
        recovery.segments,
        recovery.entries,
        log.first_index().map_or("-".into(), |i| i.to_string()),
        log.last_index().map_or("-".into(), |i| i.to_string()),
    ));
    if let Some(t) = recovery.torn_tail.as_ref().filter(|t| !t.zeros_only) {
        out.lines.push(format!(
            "{label}: torn tail in {}: start-up will truncate {} bytes ({})",
            t.file, t.bytes_cut, t.reason
        ));
    }
    if !entries {
        return;
    }
    let (Some(first), Some(last)) = (log.first_index(), log.last_index()) else {
        return;
    };
    let reader = match log.read(first..=last) {
        Ok(r) => r,
        Err(e) => {
            out.ok = false;
            out.lines.push(format!("{label}: {e}"));
            return;
        }
    };
    for rec in reader {
        let r: Result<(u64, Vec<u8>), StorageError> = rec;
        match r {
            Ok((index, payload)) => {
                if let Err(e) = lattice_raft::codec::decode_entry(Bytes::from(payload)) {
                    out.ok = false;
                    out.lines.push(format!("{label}: entry {index}: {e}"));
                    return;
                }
            }
            Err(e) => {
                out.ok = false;
                out.lines.push(format!("{label}: {e}"));
                return;
            }
        }
    }
    out.lines
        .push(format!("{label}: every entry decodes ({first}..={last})"));
}

/// Checks the data directory `dir`.
pub fn check_dir(dir: &Path) -> DirReport {
    let mut out = DirReport {
        lines: Vec::new(),
        ok: true,
    };
    check_log(&dir.join("raft-log"), "log", true, &mut out);
    check_log(&dir.join("raft-meta"), "vote log", false, &mut out);
    let snap_dir = dir.join("snapshots");
    match lattice_raft::snapshot_file::read(&snap_dir) {
        Ok(None) => out.lines.push("snapshot: none".into()),
        Ok(Some(p)) => {
            let file = lattice_raft::snapshot_file::path_in(&snap_dir);
            match crate::write_path::verify_snapshot_body(&p.body) {
                Ok(keys) => out.lines.push(format!(
                    "snapshot: {} covers log index {}, {keys} key(s), checksums ok",
                    file.display(),
                    p.meta.last_log_id.map_or(0, |l| l.index)
                )),
                Err(e) => {
                    out.ok = false;
                    out.lines.push(format!("snapshot: {}: {e}", file.display()));
                }
            }
        }
        Err(e) => {
            out.ok = false;
            out.lines.push(format!("snapshot: {e}"));
        }
    }
    out
}
