//! CLIENT subcommands: ID, SETNAME, GETNAME, LIST, KILL, INFO, NO-EVICT,
//! SETINFO, PAUSE, UNPAUSE, HELP, and the client-side caching ones
//! (TRACKING, CACHING, GETREDIR, TRACKINGINFO; `crate::tracking`).

use std::time::{Duration, Instant};

use bytes::Bytes;
use lattice_engine::number::parse_i64;
use lattice_engine::{CmdError, Reply};

use super::{arg, arg_str, help};
use crate::dispatch::Conn;
use crate::shared::{ClientHandle, Pause};

pub(super) fn validate_name(name: &str) -> Result<(), CmdError> {
    if name.bytes().any(|b| !(b'!'..=b'~').contains(&b)) {
        return Err(CmdError::err(
            "Client names cannot contain spaces, newlines or special characters.",
        ));
    }
    Ok(())
}

/// One CLIENT LIST line (without the trailing newline).
pub(crate) fn describe(h: &ClientHandle, tracking: &crate::tracking::Tracking) -> String {
    // Before the client's details: the registry's lock comes first.
    let (tracking_flags, redir) = tracking.list_fields(h.id);
    let info = h.info();
    let now = Instant::now();
    let age = now.duration_since(h.created).as_secs();
    let last = *h
        .last_active
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let idle = now.duration_since(last).as_secs();
    // Redis's letters, in its order.
    let mut flags = String::new();
    if info.sub + info.psub + info.ssub > 0 {
        flags.push('P');
    }
    if info.blocked {
        flags.push('b');
    }
    flags.push_str(&tracking_flags);
    if flags.is_empty() {
        flags.push('N');
    }
    format!(
        "id={} addr={} laddr={} fd=-1 name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} multi=-1 qbuf={} qbuf-free=0 argv-mem=0 multi-mem=0 rbs=16384 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd={} user=default redir={} resp={} lib-name={} lib-ver={}",
        h.id,
        h.addr,
        h.laddr,
        info.name,
        age,
        idle,
        flags,
        info.db,
        info.sub,
        info.psub,
        info.ssub,
        info.qbuf,
        if info.last_cmd.is_empty() { "NULL" } else { &info.last_cmd },
        redir,
        info.resp,
        info.lib_name,
        info.lib_ver,
    )
}

fn on_off(raw: &[u8]) -> Result<bool, CmdError> {
    match raw.to_ascii_uppercase().as_slice() {
        b"ON" => Ok(true),
        b"OFF" => Ok(false),
        _ => Err(CmdError::Syntax),
    }
}

/// CLIENT KILL filters (new form) or `ip:port` (old form).
fn kill(conn: &Conn, args: &[Bytes]) -> Result<Reply, CmdError> {
    let clients = conn.shared.clients();
    if args.len() == 3 {
        let addr = arg_str(args, 2);
        let Some(c) = clients.iter().find(|c| c.addr.to_string() == addr) else {
            return Err(CmdError::err("No such client"));
        };
        c.kill();
        return Ok(Reply::Ok);
    }
    let mut id: Option<u64> = None;
    let mut addr: Option<String> = None;
    let mut laddr: Option<String> = None;
    let mut skipme = true;
    let mut ty: Option<String> = None;
    let mut user: Option<String> = None;
    let mut i = 2;
    while i < args.len() {
        if i + 1 >= args.len() {
            return Err(CmdError::Syntax);
        }
        let v = arg_str(args, i + 1);
        match arg(args, i).to_ascii_uppercase().as_slice() {
            b"ID" => {
                id = Some(
                    v.parse::<u64>()
                        .ok()
                        .filter(|&n| n > 0)
                        .ok_or_else(|| CmdError::err("client-id should be greater than 0"))?,
                )
            }
            b"ADDR" => addr = Some(v),
            b"LADDR" => laddr = Some(v),
            b"TYPE" => {
                let t = v.to_ascii_lowercase();
                if !["normal", "master", "replica", "slave", "pubsub"].contains(&t.as_str()) {
                    return Err(CmdError::err(format!("Unknown client type '{v}'")));
                }
                ty = Some(t);
            }
            b"USER" => user = Some(v),
            b"SKIPME" => {
                skipme = match v.to_ascii_lowercase().as_str() {
                    "yes" => true,
                    "no" => false,
                    _ => return Err(CmdError::Syntax),
                }
            }
            _ => return Err(CmdError::Syntax),
        }
        i += 2;
    }
    let mut n = 0;
    for c in clients {
        if skipme && c.id == conn.handle.id {
            continue;
        }
        if id.is_some_and(|x| x != c.id)
            || addr.as_ref().is_some_and(|a| *a != c.addr.to_string())
            || laddr.as_ref().is_some_and(|a| *a != c.laddr.to_string())
            || ty.as_ref().is_some_and(|t| t != client_type(&c))
            || user.as_ref().is_some_and(|u| u != "default")
        {
            continue;
        }
        c.kill();
        n += 1;
    }
    Ok(Reply::Int(n))
}

/// Redis's `getClientType`: a client with any subscription is `pubsub`.
fn client_type(c: &ClientHandle) -> &'static str {
    let info = c.info();
    if info.sub + info.psub + info.ssub > 0 {
        "pubsub"
    } else {
        "normal"
    }
}

fn list(conn: &Conn, args: &[Bytes]) -> Result<Reply, CmdError> {
    let mut ids: Option<Vec<u64>> = None;
    let mut ty: Option<String> = None;
    let mut i = 2;
    while i < args.len() {
        match arg(args, i).to_ascii_uppercase().as_slice() {
            b"TYPE" if i + 1 < args.len() => {
                let t = arg_str(args, i + 1).to_ascii_lowercase();
                if !["normal", "master", "replica", "slave", "pubsub"].contains(&t.as_str()) {
                    return Err(CmdError::err(format!(
                        "Unknown client type '{}'",
                        arg_str(args, i + 1)
                    )));
                }
                if t != "normal" && t != "pubsub" {
                    return Ok(Reply::Verbatim(String::new()));
                }
                ty = Some(t);
                i += 2;
            }
            b"ID" if i + 1 < args.len() => {
                let mut v = Vec::new();
                for a in args.iter().skip(i + 1) {
                    let n = parse_i64(a)
                        .filter(|&n| n > 0)
                        .ok_or_else(|| CmdError::err("Invalid client ID"))?;
                    v.push(n as u64);
                }
                ids = Some(v);
                i = args.len();
            }
            _ => return Err(CmdError::Syntax),
        }
    }
    let mut text = String::new();
    for c in conn.shared.clients() {
        if ids.as_ref().is_some_and(|v| !v.contains(&c.id))
            || ty.as_ref().is_some_and(|t| t != client_type(&c))
        {
            continue;
        }
        text.push_str(&describe(&c, &conn.shared.tracking));
        text.push('\n');
    }
    Ok(Reply::Verbatim(text))
}

pub(super) async fn run(conn: &mut Conn, sub: &str, args: &[Bytes]) -> Result<Reply, CmdError> {
    match sub {
        "id" => Ok(Reply::Int(conn.handle.id as i64)),
        "setname" => {
            let name = arg_str(args, 2);
            validate_name(&name)?;
            conn.handle.info().name = name;
            Ok(Reply::Ok)
        }
        "getname" => {
            let name = conn.handle.info().name.clone();
            Ok(if name.is_empty() {
                Reply::Nil
            } else {
                Reply::bulk_str(&name)
            })
        }
        "list" => list(conn, args),
        "info" => Ok(Reply::Verbatim(format!(
            "{}\n",
            describe(&conn.handle, &conn.shared.tracking)
        ))),
        "tracking" => crate::tracking::tracking_command(conn, args),
        "caching" => crate::tracking::caching_command(conn, args),
        "getredir" => Ok(Reply::Int(conn.shared.tracking.redirect_of(conn.handle.id))),
        "trackinginfo" => Ok(conn.shared.tracking.info_of(conn.handle.id)),
        "kill" => kill(conn, args),
        "no-evict" => {
            conn.handle.info().no_evict = on_off(arg(args, 2))?;
            Ok(Reply::Ok)
        }
        "setinfo" => {
            let value = arg_str(args, 3);
            match arg(args, 2).to_ascii_lowercase().as_slice() {
                b"lib-name" => {
                    if value.bytes().any(|b| !(b'!'..=b'~').contains(&b)) {
                        return Err(CmdError::err(
                            "lib-name cannot contain spaces, newlines or special characters.",
                        ));
                    }
                    conn.handle.info().lib_name = value;
                }
                b"lib-ver" => {
                    if value.bytes().any(|b| !(b'!'..=b'~').contains(&b)) {
                        return Err(CmdError::err(
                            "lib-ver cannot contain spaces, newlines or special characters.",
                        ));
                    }
                    conn.handle.info().lib_ver = value;
                }
                _ => {
                    return Err(CmdError::err(format!(
                        "Unrecognized option '{}'",
                        arg_str(args, 2)
                    )))
                }
            }
            Ok(Reply::Ok)
        }
        "pause" => {
            let ms = parse_i64(arg(args, 2))
                .filter(|&n| n >= 0)
                .ok_or_else(|| CmdError::err("timeout is not an integer or out of range"))?;
            let writes_only = match args.get(3).map(|a| a.to_ascii_uppercase()) {
                None => false,
                Some(m) if m == b"WRITE" && args.len() == 4 => true,
                Some(m) if m == b"ALL" && args.len() == 4 => false,
                _ => return Err(CmdError::Syntax),
            };
            let mut p = conn
                .shared
                .pause
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let until = Instant::now() + Duration::from_millis(ms as u64);
            // A new pause extends but never shortens, and ALL wins over WRITE.
            let until = p.until.map_or(until, |u| u.max(until));
            let writes_only = writes_only && p.until.is_none_or(|_| p.writes_only);
            *p = Pause {
                until: Some(until),
                writes_only,
            };
            Ok(Reply::Ok)
        }
        "unpause" => {
            *conn
                .shared
                .pause
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Pause::default();
            conn.shared.unpaused.notify_waiters();
            Ok(Reply::Ok)
        }
        "help" => Ok(help(&[
            "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "CACHING (YES|NO)",
            "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
            "GETREDIR",
            "    Return the client ID we are redirecting to when tracking is enabled.",
            "GETNAME",
            "    Return the name of the current connection.",
            "ID",
            "    Return the ID of the current connection.",
            "INFO",
            "    Return information about the current client connection.",
            "KILL <ip:port>",
            "    Kill connection made from <ip:port>.",
            "KILL <option> <value> [<option> <value> [...]]",
            "    Kill connections. Options are: ID, ADDR, LADDR, TYPE, USER, SKIPME.",
            "LIST [options ...]",
            "    Return information about client connections.",
            "NO-EVICT (ON|OFF)",
            "    Protect current client connection from eviction.",
            "PAUSE <timeout> [WRITE|ALL]",
            "    Suspend all, or just write, clients for <timeout> milliseconds.",
            "SETINFO <option> <value>",
            "    Set client meta attr. Options are: LIB-NAME, LIB-VER.",
            "SETNAME <name>",
            "    Assign the name <name> to the current connection.",
            "UNPAUSE",
            "    Stop the current client pause, resuming traffic.",
            "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
            "         [OPTIN] [OPTOUT] [NOLOOP]",
            "    Control server assisted client side caching.",
            "TRACKINGINFO",
            "    Report tracking status for the current connection.",
            "HELP",
            "    Prints this help.",
        ])),
        _ => Err(CmdError::Syntax),
    }
}
