//! DEBUG (SLEEP, OBJECT, SET-ACTIVE-EXPIRE, POPULATE) and MEMORY (USAGE,
//! STATS, DOCTOR). DEBUG obeys `enable-debug-command` (default `local`:
//! loopback clients only).

use std::time::Duration;

use bytes::Bytes;
use lattice_engine::number::{arg_f64, arg_i64};
use lattice_engine::{CmdError, Reply};

use super::{arg, help};
use crate::alloc::{allocated_bytes, peak_bytes};
use crate::config::DebugPolicy;
use crate::dispatch::Conn;

pub(super) async fn debug(conn: &mut Conn, sub: &str, args: &[Bytes]) -> Result<Reply, CmdError> {
    let allowed = match conn.shared.config().enable_debug_command {
        DebugPolicy::Yes => true,
        DebugPolicy::Local => conn.is_local,
        DebugPolicy::No => false,
    };
    if !allowed {
        return Err(CmdError::err("DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server."));
    }
    match sub {
        "sleep" => {
            let secs = arg_f64(arg(args, 2))?;
            if !(0.0..=3600.0).contains(&secs) {
                return Err(CmdError::err(
                    "sleep time must be between 0 and 3600 seconds",
                ));
            }
            // Like Redis, DEBUG SLEEP stalls the whole dataset: hold the lock.
            let shared = conn.shared.clone();
            tokio::task::spawn_blocking(move || {
                let _core = shared.core();
                std::thread::sleep(Duration::from_secs_f64(secs));
            })
            .await
            .map_err(|e| CmdError::err(format!("sleep failed: {e}")))?;
            Ok(Reply::Ok)
        }
        "object" => {
            let core = conn.shared.core();
            let key = arg(args, 2);
            let Some(e) = core.engine.db(conn.db).and_then(|db| db.get(key)) else {
                return Err(CmdError::NoSuchKey);
            };
            let usage = core.engine.memory_usage(conn.db, key).unwrap_or(0);
            Ok(Reply::Status(format!(
                "Value at:0x0 refcount:1 encoding:{} serializedlength:{} lru:{} lru_seconds_idle:0",
                e.value.encoding(),
                usage,
                e.access & 0xFF_FFFF,
            )))
        }
        "set-active-expire" => {
            let on = arg_i64(arg(args, 2))? != 0;
            let mut core = conn.shared.core();
            let mut cfg = core.engine.config().clone();
            cfg.active_expire_enabled = on;
            core.engine.set_config(cfg.clone());
            drop(core);
            conn.shared
                .with_config_mut(|c| c.engine.active_expire_enabled = on);
            Ok(Reply::Ok)
        }
        "log-fault" => {
            use lattice_storage::LogBackend as _;
            let wp = conn
                .shared
                .write_path()
                .ok_or_else(crate::shared::loading)?;
            let Some(f) = &wp.faults else {
                return Err(CmdError::err(
                    "log fault injection is off (start with --debug-log-faults yes)",
                ));
            };
            match arg(args, 2).to_ascii_lowercase().as_slice() {
                b"fsync-error" => f.fail_syncs(true),
                b"disk-full" => {
                    // No room beyond what the files hold now.
                    let used: u64 = f
                        .list()
                        .map_err(|e| CmdError::err(e.to_string()))?
                        .iter()
                        .filter_map(|n| f.file_len(n).ok())
                        .sum();
                    f.set_capacity(Some(used));
                }
                b"disk-free" => f.set_capacity(None),
                b"off" => {
                    f.fail_syncs(false);
                    f.set_capacity(None);
                }
                _ => {
                    return Err(CmdError::err(
                        "DEBUG LOG-FAULT takes FSYNC-ERROR, DISK-FULL, DISK-FREE or OFF",
                    ))
                }
            }
            Ok(Reply::Ok)
        }
        "populate" => {
            let count = arg_i64(arg(args, 2))?;
            if count < 0 {
                return Err(CmdError::err("count must be greater than or equal to 0"));
            }
            let prefix = args
                .get(3)
                .cloned()
                .unwrap_or_else(|| Bytes::from_static(b"key"));
            let size = match args.get(4) {
                Some(s) => Some(arg_i64(s)?.max(0) as u64),
                None => None,
            };
            // A write like any other: through the log.
            let cmd = lattice_raft::Command::Populate {
                db: conn.db,
                count: count as u64,
                prefix,
                size,
                time_ms: crate::shared::unix_ms(),
            };
            match conn.shared.propose(cmd).await? {
                lattice_raft::Outcome::Reply(r) => Ok(r),
                lattice_raft::Outcome::Blocked { .. } => Ok(Reply::Ok),
            }
        }
        "help" => Ok(help(&[
            "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "OBJECT <key>",
            "    Show low level info about the `key` and associated value.",
            "POPULATE <count> [<prefix>] [<size>]",
            "    Create <count> string keys named key:<num>.",
            "LOG-FAULT <FSYNC-ERROR|DISK-FULL|DISK-FREE|OFF>",
            "    Break the log's files (needs --debug-log-faults yes).",
            "SET-ACTIVE-EXPIRE <0|1>",
            "    Setting it to 0 disables expiring keys in background when they are not accessed.",
            "SLEEP <seconds>",
            "    Stop the server for <seconds>. Decimals allowed.",
            "HELP",
            "    Prints this help.",
        ])),
        _ => Err(CmdError::Syntax),
    }
}

pub(super) fn memory(conn: &Conn, sub: &str, args: &[Bytes]) -> Result<Reply, CmdError> {
    match sub {
        "usage" => {
            match args.len() {
                3 => {}
                5 if arg(args, 3).eq_ignore_ascii_case(b"SAMPLES") => {
                    if arg_i64(arg(args, 4))? < 0 {
                        return Err(CmdError::Syntax);
                    }
                }
                _ => return Err(CmdError::Syntax),
            }
            let core = conn.shared.core();
            Ok(core
                .engine
                .memory_usage(conn.db, arg(args, 2))
                .map_or(Reply::Nil, |n| Reply::Int(n as i64)))
        }
        "stats" => {
            let core = conn.shared.core();
            let keys: usize = (0..core.engine.db_count())
                .filter_map(|i| core.engine.db(i))
                .map(|d| d.len())
                .sum();
            Ok(Reply::Map(vec![
                (Reply::bulk_str("peak.allocated"), Reply::Int(peak_bytes() as i64)),
                (Reply::bulk_str("total.allocated"), Reply::Int(allocated_bytes() as i64)),
                (Reply::bulk_str("keys.count"), Reply::Int(keys as i64)),
            ]))
        }
        "doctor" => Ok(Reply::Verbatim(
            "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.".into(),
        )),
        "malloc-stats" => {
            Ok(Reply::Verbatim("Stats not supported for the current allocator".into()))
        }
        "purge" => Ok(Reply::Ok),
        "help" => Ok(help(&[
            "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "DOCTOR",
            "    Return memory problems reports.",
            "MALLOC-STATS",
            "    Return internal statistics report from the memory allocator.",
            "PURGE",
            "    Attempt to purge dirty pages for reclamation by the allocator.",
            "STATS",
            "    Return information about the memory usage of the server.",
            "USAGE <key> [SAMPLES <count>]",
            "    Return memory in bytes used by <key> and its value. Nested values are",
            "    sampled up to <count> times (default: 5, 0 means sample all).",
            "HELP",
            "    Prints this help.",
        ])),
        _ => Err(CmdError::Syntax),
    }
}
