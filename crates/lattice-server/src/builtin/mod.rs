//! Commands the server layer executes itself: connection state (PING, AUTH,
//! HELLO, SELECT …), CLIENT, CONFIG, INFO, COMMAND, DEBUG, MEMORY, TIME,
//! SHUTDOWN, MULTI/EXEC/DISCARD/WATCH/UNWATCH (`crate::transaction`), pub/sub
//! (`crate::pubsub`). Their
//! declarations live in the engine's table (`lattice_engine::cmd::server`);
//! this module routes to their handlers.

mod client;
mod command;
mod config;
mod connection;
mod debug;
pub mod info;
mod persistence;

use bytes::{Bytes, BytesMut};
use lattice_engine::cmd::Resolved;
use lattice_engine::{CmdError, Reply};

use crate::dispatch::{reply, Conn, Control};
use crate::transaction;

pub(crate) fn arg(args: &[Bytes], i: usize) -> &[u8] {
    args.get(i).map_or(&[][..], |b| &b[..])
}

pub(crate) fn arg_str(args: &[Bytes], i: usize) -> String {
    String::from_utf8_lossy(arg(args, i)).into_owned()
}

/// Runs a server-layer command.
pub async fn run(conn: &mut Conn, r: &Resolved, args: &[Bytes], out: &mut BytesMut) -> Control {
    let parent = r.parent.map(|p| p.name);
    let result: Result<Reply, CmdError> = match (parent, r.spec.name) {
        // RESP2 clients in subscribed context get PING as a push-style array.
        (None, "ping")
            if conn.resp == lattice_resp::encode::Version::Resp2 && conn.pubsub.active() =>
        {
            match args.len() {
                1 | 2 => Ok(Reply::Array(vec![
                    Reply::bulk(b"pong"),
                    Reply::bulk(arg(args, 1)),
                ])),
                _ => Err(CmdError::Arity("ping".into())),
            }
        }
        (None, "ping") => connection::ping(args),
        (None, "echo") => Ok(Reply::bulk(arg(args, 1))),
        (None, "quit") => {
            reply(conn, out, Reply::Ok);
            return Control::Close;
        }
        (None, "reset") => {
            transaction::reset(conn);
            crate::pubsub::reset(conn);
            crate::tracking::reset(conn);
            connection::reset(conn)
        }
        (None, "select") => connection::select(conn, args),
        (None, "auth") => connection::auth(conn, args),
        (None, "hello") => connection::hello(conn, args),
        (None, "time") => Ok(connection::time()),
        (None, "info") => Ok(info::info(conn, args)),
        (None, "shutdown") => return connection::shutdown(conn, args, out),
        (None, "save") => persistence::save(conn).await,
        (None, name @ ("bgsave" | "bgrewriteaof")) => persistence::bgsave(conn, name, args).await,
        (None, "lastsave") => persistence::lastsave(conn),
        (None, "command") => command::command_all(),
        (None, name @ ("eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro")) => {
            crate::scripting::eval_command(conn, name, args).await
        }
        (Some("script"), sub) => crate::scripting::script_command(conn, sub, args),
        (Some("function"), sub) => crate::scripting::function_command(conn, sub, args).await,
        (Some("command"), sub) => command::run(sub, args),
        (Some("client"), sub) => client::run(conn, sub, args).await,
        (Some("config"), sub) => config::run(conn, sub, args),
        (Some("debug"), sub) => debug::debug(conn, sub, args).await,
        (Some("memory"), sub) => debug::memory(conn, sub, args),
        (Some("slowlog"), sub) => crate::observe::slowlog_command(&conn.shared, sub, args),
        (Some("latency"), sub) => crate::observe::latency_command(&conn.shared, sub, args),
        (None, "hotkeys") => crate::observe::hotkeys_command(&conn.shared, conn.db, args),
        (
            None,
            name @ ("subscribe" | "unsubscribe" | "psubscribe" | "punsubscribe" | "ssubscribe"
            | "sunsubscribe"),
        ) => return crate::pubsub::subscription_command(conn, name, args, out),
        (None, "publish") => return crate::pubsub::publish(conn, false, args, out),
        (None, "spublish") => return crate::pubsub::publish(conn, true, args, out),
        (Some("pubsub"), sub) => crate::pubsub::pubsub_command(conn, sub, args),
        (None, "multi") => transaction::multi(conn),
        (None, "exec") => return transaction::exec(conn, out).await,
        (None, "discard") => transaction::discard(conn),
        (None, "watch") => transaction::watch(conn, args).await,
        (None, "unwatch") => transaction::unwatch(conn),
        (Some(p), _) => Err(lattice_engine::cmd::unknown_subcommand_error(
            r.parent.unwrap_or(r.spec),
            p.as_bytes(),
        )),
        (None, other) => Err(CmdError::err(format!("command '{other}' is not available"))),
    };
    match result {
        Ok(r) => reply(conn, out, r),
        Err(e) => reply(conn, out, Reply::Error(e)),
    }
}

/// Redis's HELP reply: the lines as status replies.
pub(crate) fn help(lines: &[&str]) -> Reply {
    Reply::Array(
        lines
            .iter()
            .map(|l| Reply::Status((*l).to_string()))
            .collect(),
    )
}
