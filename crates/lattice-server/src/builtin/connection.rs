//! Connection commands: PING, RESET, SELECT, AUTH, HELLO, TIME, SHUTDOWN.

use std::sync::atomic::Ordering;

use bytes::{Bytes, BytesMut};
use lattice_engine::number::parse_i64;
use lattice_engine::{CmdError, Reply};
use lattice_resp::encode::Version;

use super::{arg, arg_str};
use crate::dispatch::{reply, Conn, Control};

pub(super) fn ping(args: &[Bytes]) -> Result<Reply, CmdError> {
    match args.len() {
        1 => Ok(Reply::Status("PONG".into())),
        2 => Ok(Reply::bulk(arg(args, 1))),
        _ => Err(CmdError::Arity("ping".into())),
    }
}

pub(super) fn reset(conn: &mut Conn) -> Result<Reply, CmdError> {
    conn.db = 0;
    conn.resp = Version::Resp2;
    conn.authenticated = conn.shared.config().requirepass.is_empty();
    let mut info = conn.handle.info();
    info.db = 0;
    info.resp = 2;
    info.name.clear();
    info.no_evict = false;
    Ok(Reply::Status("RESET".into()))
}

pub(super) fn select(conn: &mut Conn, args: &[Bytes]) -> Result<Reply, CmdError> {
    let n = parse_i64(arg(args, 1)).ok_or(CmdError::NotInteger)?;
    let dbs = conn.shared.config().engine.databases as i64;
    if n < 0 || n >= dbs {
        return Err(CmdError::DbIndexOutOfRange);
    }
    conn.db = n as usize;
    conn.handle.info().db = conn.db;
    Ok(Reply::Ok)
}

fn wrongpass() -> CmdError {
    CmdError::Other("WRONGPASS invalid username-password pair or user is disabled.".into())
}

/// Checks credentials for the default user (ACLs come with the security issue).
fn check_credentials(conn: &Conn, user: Option<&[u8]>, pass: &[u8]) -> Result<(), CmdError> {
    let required = conn.shared.config().requirepass;
    if let Some(u) = user {
        if u != b"default" {
            return Err(wrongpass());
        }
    }
    if required.is_empty() {
        // Redis: with no password, `AUTH default <anything>` succeeds (nopass).
        return if user.is_some() {
            Ok(())
        } else {
            Err(CmdError::err("AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"))
        };
    }
    // Constant-time comparison: the time taken does not reveal how much of a
    // guess matched.
    let a = required.as_bytes();
    let mut diff = a.len() ^ pass.len();
    for (i, &b) in a.iter().enumerate() {
        diff |= usize::from(b ^ pass.get(i).copied().unwrap_or(0));
    }
    if diff == 0 {
        Ok(())
    } else {
        Err(wrongpass())
    }
}

pub(super) fn auth(conn: &mut Conn, args: &[Bytes]) -> Result<Reply, CmdError> {
    let r = match args.len() {
        2 => check_credentials(conn, None, arg(args, 1)),
        3 => check_credentials(conn, Some(arg(args, 1)), arg(args, 2)),
        _ => return Err(CmdError::Syntax),
    };
    match r {
        Ok(()) => {
            conn.authenticated = true;
            Ok(Reply::Ok)
        }
        Err(e) => {
            tracing::info!(client = conn.handle.id, addr = %conn.handle.addr, "AUTH failed");
            Err(e)
        }
    }
}

pub(super) fn hello(conn: &mut Conn, args: &[Bytes]) -> Result<Reply, CmdError> {
    let mut version = None;
    let mut i = 1;
    if args.len() > 1 {
        let v = parse_i64(arg(args, 1))
            .ok_or_else(|| CmdError::err("Protocol version is not an integer or out of range"))?;
        if v != 2 && v != 3 {
            return Err(CmdError::Other(
                "NOPROTO unsupported protocol version".into(),
            ));
        }
        version = Some(if v == 3 {
            Version::Resp3
        } else {
            Version::Resp2
        });
        i = 2;
    }
    let mut setname = None;
    while i < args.len() {
        let opt = arg(args, i).to_ascii_uppercase();
        if opt == b"AUTH" && i + 2 < args.len() {
            check_credentials(conn, Some(arg(args, i + 1)), arg(args, i + 2))?;
            conn.authenticated = true;
            i += 3;
        } else if opt == b"SETNAME" && i + 1 < args.len() {
            let name = arg_str(args, i + 1);
            super::client::validate_name(&name)?;
            setname = Some(name);
            i += 2;
        } else {
            return Err(CmdError::err(format!(
                "Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(arg(args, i))
            )));
        }
    }
    if !conn.authenticated {
        return Err(crate::dispatch::noauth());
    }
    if let Some(v) = version {
        conn.resp = v;
    }
    {
        let mut info = conn.handle.info();
        info.resp = if conn.resp == Version::Resp3 { 3 } else { 2 };
        if let Some(n) = setname {
            info.name = n;
        }
    }
    let proto = if conn.resp == Version::Resp3 { 3 } else { 2 };
    Ok(Reply::Map(vec![
        (Reply::bulk_str("server"), Reply::bulk_str("redis")),
        (
            Reply::bulk_str("version"),
            Reply::bulk_str(crate::REDIS_VERSION),
        ),
        (Reply::bulk_str("proto"), Reply::Int(proto)),
        (Reply::bulk_str("id"), Reply::Int(conn.handle.id as i64)),
        (Reply::bulk_str("mode"), Reply::bulk_str("standalone")),
        (Reply::bulk_str("role"), Reply::bulk_str("master")),
        (Reply::bulk_str("modules"), Reply::Array(vec![])),
    ]))
}

pub(super) fn time() -> Reply {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Reply::Array(vec![
        Reply::bulk_int(now.as_secs() as i64),
        Reply::bulk_int(i64::from(now.subsec_micros())),
    ])
}

pub(super) fn shutdown(conn: &mut Conn, args: &[Bytes], out: &mut BytesMut) -> Control {
    let mut mode = 0u8;
    for a in args.iter().skip(1) {
        match a.to_ascii_uppercase().as_slice() {
            b"NOSAVE" => mode = 2,
            b"SAVE" => mode = 1,
            b"NOW" | b"FORCE" => {}
            b"ABORT" => {
                return reply(
                    conn,
                    out,
                    Reply::Error(CmdError::err("No shutdown in progress.")),
                )
            }
            _ => return reply(conn, out, Reply::Error(CmdError::Syntax)),
        }
    }
    tracing::warn!(client = conn.handle.id, "User requested shutdown...");
    if mode == 2 {
        crate::scripting::record_abort(&conn.shared);
    }
    conn.shared.shutdown_save.store(mode, Ordering::SeqCst);
    conn.shared.shutdown_requested.store(true, Ordering::SeqCst);
    let _ = conn.shared.shutdown.send(true);
    // Redis closes the connection without a reply when shutdown proceeds.
    Control::Close
}
