//! CONFIG GET, SET (atomic over all pairs, as Redis 7), RESETSTAT, REWRITE.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use lattice_engine::glob::glob_match_nocase;
use lattice_engine::{CmdError, Reply};

use super::{arg_str, help};
use crate::config::{directive_names, ConfigError};
use crate::dispatch::Conn;

fn set(conn: &Conn, args: &[Bytes]) -> Result<Reply, CmdError> {
    let pairs = args.get(2..).unwrap_or_default();
    if !pairs.len().is_multiple_of(2) {
        return Err(CmdError::Arity("config|set".into()));
    }
    let mut cfg = conn.shared.config();
    let mut seen = Vec::new();
    for p in pairs.chunks(2) {
        let name = arg_str(p, 0);
        let value = arg_str(p, 1);
        let lname = name.to_ascii_lowercase();
        if seen.contains(&lname) {
            return Err(CmdError::err(format!(
                "CONFIG SET failed (possibly related to argument '{name}') - duplicate parameter"
            )));
        }
        seen.push(lname);
        // Multi-value directives (bind, client-output-buffer-limit) take one
        // space-separated argument in CONFIG SET, as in Redis.
        let values: Vec<String> = if matches!(
            name.to_ascii_lowercase().as_str(),
            "bind" | "client-output-buffer-limit"
        ) {
            value.split_whitespace().map(str::to_string).collect()
        } else {
            vec![value]
        };
        cfg.set(&name, &values, false).map_err(|e| match e {
            ConfigError::Unknown(n) => CmdError::err(format!(
                "Unknown option or number of arguments for CONFIG SET - '{n}'"
            )),
            ConfigError::Immutable(n) => CmdError::err(format!(
                "CONFIG SET failed (possibly related to argument '{n}') - can't set immutable config"
            )),
            ConfigError::Invalid { name, reason } => CmdError::err(format!(
                "CONFIG SET failed (possibly related to argument '{name}') - {reason}"
            )),
            ConfigError::File { reason, .. } => CmdError::err(reason),
        })?;
    }
    let engine_cfg = cfg.engine.clone();
    if cfg.appendfsync != conn.shared.config().appendfsync {
        if let Some(wp) = conn.shared.write_path() {
            wp.set_fsync(cfg.appendfsync);
        }
    }
    conn.shared.pubsub.configure(&cfg);
    conn.shared
        .scripts
        .set_threshold_ms(cfg.busy_reply_threshold_ms);
    conn.shared.tracking.configure(&cfg);
    conn.shared.with_config_mut(|c| *c = cfg);
    conn.shared.config_epoch.fetch_add(1, Ordering::SeqCst);
    conn.shared.core().engine.set_config(engine_cfg);
    Ok(Reply::Ok)
}

fn get(conn: &Conn, args: &[Bytes]) -> Reply {
    let cfg = conn.shared.config();
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for pat in args.iter().skip(2) {
        for name in directive_names() {
            if glob_match_nocase(pat, name.as_bytes()) && seen.insert(name) {
                if let Some(v) = cfg.get(name) {
                    out.push((Reply::bulk_str(name), Reply::bulk_str(&v)));
                }
            }
        }
    }
    Reply::Map(out)
}

pub(super) fn run(conn: &Conn, sub: &str, args: &[Bytes]) -> Result<Reply, CmdError> {
    match sub {
        "get" => Ok(get(conn, args)),
        "set" => set(conn, args),
        "resetstat" => {
            let s = &conn.shared.stats;
            for c in [
                &s.total_connections_received,
                &s.total_commands_processed,
                &s.rejected_connections,
                &s.net_input_bytes,
                &s.net_output_bytes,
                &s.total_error_replies,
            ] {
                c.store(0, Ordering::Relaxed);
            }
            conn.shared.core().engine.stats = Default::default();
            conn.shared.observe.reset_stats();
            Ok(Reply::Ok)
        }
        "rewrite" => {
            let cfg = conn.shared.config();
            let Some(path) = cfg.file.clone() else {
                return Err(CmdError::err("The server is running without a config file"));
            };
            std::fs::write(&path, cfg.render())
                .map_err(|e| CmdError::err(format!("Rewriting config file: {e}")))?;
            Ok(Reply::Ok)
        }
        "help" => Ok(help(&[
            "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
            "REWRITE",
            "    Rewrite the configuration file.",
            "HELP",
            "    Prints this help.",
        ])),
        // `resolve` rejects unknown subcommands before we get here.
        _ => Err(CmdError::Syntax),
    }
}
