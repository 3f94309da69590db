//! Scripting in the server: EVAL/EVALSHA/EVAL_RO/EVALSHA_RO, FCALL/FCALL_RO,
//! SCRIPT and FUNCTION, on top of `lattice-script`'s VM.
//!
//! * A script that may write is one log command (`Command::Script`, with
//!   the body — EVALSHA is resolved here — time and seed), run by the state
//!   machine on [`Core`]: its `redis.call` writes are applied with their
//!   effects (notifications, WATCH, blocked clients served once the script
//!   ends), so it is atomic and identical on every replica and on replay.
//! * Read-only scripts (EVAL_RO, FCALL_RO, `no-writes`) run on the applied
//!   state under the engine lock, like a read.
//! * FUNCTION LOAD/DELETE/FLUSH/RESTORE are log commands (libraries are
//!   replicated state); SCRIPT LOAD/FLUSH only touch this node's cache.
//! * The busy gate: while a script runs, other commands wait without
//!   holding a thread, and past `busy-reply-threshold` get `-BUSY` except
//!   SCRIPT KILL, FUNCTION KILL and SHUTDOWN NOSAVE.

use bytes::Bytes;
use lattice_engine::cmd::{CommandSpec, Resolved};
use lattice_engine::{CmdError, Effect, Reply, WriteOp};
use lattice_raft::{Command, Outcome};
use lattice_resp::encode::Version;
use lattice_script::{KillOutcome, RunCtx, Scripting};

use crate::dispatch::Conn;
use crate::shared::{unix_ms, Core, Shared};

/// The server's side of `redis.call`: the engine, with each write's
/// effects carried out as a plain write's are.
struct CoreHost<'a> {
    core: &'a mut Core,
    /// The client that ran the script (tracking's NOLOOP).
    client: u64,
    time_ms: u64,
    seed: u64,
    calls: u64,
    /// Keys that became ready: blocked clients are served after the script.
    ready: Vec<Effect>,
}

impl lattice_script::Host for CoreHost<'_> {
    fn call(&mut self, db: usize, spec: &'static CommandSpec, args: Vec<Bytes>) -> Reply {
        self.calls += 1;
        // A distinct, deterministic RNG stream per call (as in a MULTI).
        let seed = self
            .seed
            .wrapping_add(self.calls.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        match spec.name {
            "publish" | "spublish" => {
                let (Some(ch), Some(msg)) = (args.get(1), args.get(2)) else {
                    return Reply::Error(CmdError::Arity(spec.name.into()));
                };
                let n = if spec.name == "publish" {
                    self.core.pubsub.publish(ch, msg)
                } else {
                    self.core.pubsub.spublish(ch, msg)
                };
                return Reply::Int(n as i64);
            }
            _ => {}
        }
        if spec.is_write() {
            let op = WriteOp::Command {
                db,
                args,
                time_ms: self.time_ms,
                seed,
            };
            let core = &mut *self.core;
            let existed = core.watches.before_apply(&op, &core.engine);
            let out = core.engine.apply(&op, false);
            core.pubsub.notify_effects(&out.effects);
            core.tracking.after_apply(&op, &out.effects, self.client);
            core.watches
                .after_apply(&out.effects, existed.as_ref(), &core.engine, self.time_ms);
            self.ready.extend(
                out.effects
                    .into_iter()
                    .filter(|e| matches!(e, Effect::KeyReady { .. })),
            );
            out.reply
        } else {
            let out = self.core.engine.read(spec, db, &args, self.time_ms, seed);
            // Reads publish their notifications (key misses).
            self.core.pubsub.notify_effects(&out.effects);
            out.reply
        }
    }

    fn db_count(&self) -> usize {
        self.core.engine.db_count()
    }
}

impl Core {
    /// Runs `EVAL body numkeys …` or `FCALL name numkeys …` (`argv[0]` is
    /// the command name) and carries out its effects.
    pub fn run_script(&mut self, client: u64, argv: &[Bytes], ctx: RunCtx) -> Reply {
        let Some(mut scripting) = self.scripting.take() else {
            return Reply::Error(CmdError::err("scripting is unavailable on this node"));
        };
        let name = argv
            .first()
            .map(|n| n.to_ascii_lowercase())
            .unwrap_or_default();
        let rest = argv.get(1..).unwrap_or_default();
        let mut host = CoreHost {
            core: self,
            client,
            time_ms: ctx.time_ms,
            seed: ctx.seed,
            calls: 0,
            ready: Vec::new(),
        };
        let reply = match name.as_slice() {
            b"fcall" => scripting.fcall(rest, false, ctx, &mut host),
            b"fcall_ro" => scripting.fcall(rest, true, ctx, &mut host),
            _ => scripting.eval(rest, ctx, &mut host),
        };
        let ready = std::mem::take(&mut host.ready);
        self.scripting = Some(scripting);
        self.after_effects(ready, ctx.time_ms);
        self.script_done.notify_waiters();
        reply
    }

    /// Applies FUNCTION LOAD/DELETE/FLUSH/RESTORE (`argv` from the
    /// subcommand).
    pub fn run_function(&mut self, argv: &[Bytes]) -> Reply {
        let Some(s) = self.scripting.as_mut() else {
            return Reply::Error(CmdError::err("scripting is unavailable on this node"));
        };
        let r = lattice_script::functions::apply(s, argv);
        self.script_done.notify_waiters();
        r
    }

    /// Every function library's code (snapshots).
    pub fn function_codes(&self) -> Vec<Bytes> {
        self.scripting
            .as_ref()
            .map(|s| s.functions.codes())
            .unwrap_or_default()
    }

    /// Replaces the function libraries (snapshot load).
    pub fn restore_functions(&mut self, codes: &[Bytes]) -> Result<(), CmdError> {
        match self.scripting.as_mut() {
            Some(s) => lattice_script::functions::restore_codes(s, codes),
            None if codes.is_empty() => Ok(()),
            None => Err(CmdError::err("scripting is unavailable on this node")),
        }
    }
}

/// The file listing log entries whose script SHUTDOWN NOSAVE cut short.
const ABORTED_FILE: &str = "aborted-scripts";

/// SHUTDOWN NOSAVE while a logged script runs: the entry is committed, so
/// a restart would run the script again (and a script that never ends
/// would never let the node start). Its index is recorded, fsynced, and
/// replay answers that entry with an error instead of running it — as in
/// Redis, where such a script's writes are lost.
pub fn record_abort(shared: &Shared) {
    let Some(index) = shared.scripts.running_entry() else {
        return;
    };
    let path = shared.config().dir.join(ABORTED_FILE);
    let r = (|| -> std::io::Result<()> {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)?;
        writeln!(f, "{index}")?;
        f.sync_all()
    })();
    match r {
        Ok(()) => tracing::warn!(
            index,
            "the running script's entry will not run again at restart"
        ),
        Err(e) => {
            tracing::error!(error = %e, path = %path.display(), "cannot record the aborted script")
        }
    }
}

/// Entries recorded by [`record_abort`] in `dir` (a damaged line is
/// skipped with a warning: it can only name an index).
pub fn load_aborted(dir: &std::path::Path) -> std::collections::HashSet<u64> {
    let Ok(text) = std::fs::read_to_string(dir.join(ABORTED_FILE)) else {
        return Default::default();
    };
    text.lines()
        .filter_map(|l| {
            let v = l.trim().parse().ok();
            if v.is_none() && !l.trim().is_empty() {
                tracing::warn!(line = l, "ignoring a damaged line in {ABORTED_FILE}");
            }
            v
        })
        .collect()
}

/// Runs `f` on the current thread, letting the runtime move its other
/// tasks elsewhere when it can (a script may hold the thread for long).
pub fn blocking<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

fn noscript() -> CmdError {
    CmdError::Other("NOSCRIPT No matching script. Please use EVAL.".into())
}

/// EVAL, EVALSHA, EVAL_RO, EVALSHA_RO, FCALL, FCALL_RO.
pub async fn eval_command(conn: &mut Conn, name: &str, args: &[Bytes]) -> Result<Reply, CmdError> {
    let shared = conn.shared.clone();
    let mut argv: Vec<Bytes> = args.to_vec();
    let (is_fcall, ro) = match name {
        "fcall" => (true, false),
        "fcall_ro" => (true, true),
        "eval_ro" | "evalsha_ro" => (false, true),
        _ => (false, false),
    };
    // Check numkeys first: Redis does, before looking the script up.
    match lattice_script::split_keys(argv.get(2..).unwrap_or_default()) {
        Err(CmdError::NotInteger) if is_fcall => {
            return Err(CmdError::err("Bad number of keys provided"))
        }
        Err(e) => return Err(e),
        Ok(_) => {}
    }
    if name.starts_with("evalsha") {
        let sha = String::from_utf8_lossy(args.get(1).map_or(&[][..], |a| &a[..])).into_owned();
        let body = shared
            .core()
            .scripting
            .as_ref()
            .and_then(|s| s.body(&sha))
            .ok_or_else(noscript)?;
        if let Some(a) = argv.get_mut(1) {
            *a = body;
        }
    }
    let body_flags = if is_fcall {
        None
    } else {
        Some(Scripting::flags_of(
            argv.get(1).map_or(&[][..], |a| &a[..]),
        )?)
    };
    if let Some(f) = body_flags {
        if ro && f.shebang && !f.no_writes {
            return Err(CmdError::err(
                "Can not execute a script with write flag using *_ro command.",
            ));
        }
    }
    let read_only = ro
        || body_flags.is_some_and(|f| f.no_writes)
        || (is_fcall && function_is_ro(&shared, &argv));
    let now = unix_ms();
    let seed = shared.next_seed();
    let resp3 = conn.resp == Version::Resp3;
    if let Some(a) = argv.first_mut() {
        *a = Bytes::from(if is_fcall {
            if ro {
                "fcall_ro"
            } else {
                "fcall"
            }
        } else {
            "eval"
        });
    }
    if read_only {
        let ctx = RunCtx {
            db: conn.db,
            time_ms: now,
            seed,
            resp3,
            read_only: true,
        };
        let client = conn.handle.id;
        shared.scripts.announce();
        let r = blocking(|| shared.core().run_script(client, &argv, ctx));
        shared.scripts.finish();
        return Ok(r);
    }
    let cmd = Command::Script {
        client: conn.handle.id,
        db: conn.db,
        argv,
        time_ms: now,
        seed,
        resp3,
    };
    match shared.propose(cmd).await? {
        Outcome::Reply(r) => Ok(r),
        Outcome::Blocked { .. } => Err(CmdError::err("a script cannot block")),
    }
}

/// Whether FCALL's function is flagged `no-writes` (it then runs as a read).
fn function_is_ro(shared: &Shared, argv: &[Bytes]) -> bool {
    let Some(name) = argv.get(1) else {
        return false;
    };
    shared
        .core()
        .scripting
        .as_ref()
        .and_then(|s| s.functions.function(name).map(|f| f.no_writes))
        .unwrap_or(false)
}

/// SCRIPT LOAD | EXISTS | FLUSH | KILL | HELP.
pub fn script_command(conn: &Conn, sub: &str, args: &[Bytes]) -> Result<Reply, CmdError> {
    let shared = &conn.shared;
    match sub {
        "load" => {
            let body = args.get(2).cloned().unwrap_or_default();
            let mut core = shared.core();
            let s = core
                .scripting
                .as_mut()
                .ok_or_else(|| CmdError::err("scripting is unavailable on this node"))?;
            Ok(Reply::Bulk(Bytes::from(s.load(&body)?)))
        }
        "exists" => {
            let core = shared.core();
            let s = core.scripting.as_ref();
            Ok(Reply::Array(
                args.iter()
                    .skip(2)
                    .map(|sha| {
                        let sha = String::from_utf8_lossy(sha);
                        Reply::Int(i64::from(s.is_some_and(|s| s.exists(&sha))))
                    })
                    .collect(),
            ))
        }
        "flush" => {
            match args.get(2).map(|a| a.to_ascii_lowercase()) {
                None => {}
                Some(m) if m == b"async" || m == b"sync" => {}
                Some(_) => {
                    return Err(CmdError::err("SCRIPT FLUSH only support SYNC|ASYNC option"))
                }
            }
            if args.len() > 3 {
                return Err(CmdError::err("SCRIPT FLUSH only support SYNC|ASYNC option"));
            }
            if let Some(s) = shared.core().scripting.as_mut() {
                s.flush();
            }
            Ok(Reply::Ok)
        }
        "kill" => kill_reply(shared.scripts.request_kill(false)),
        "debug" => Err(CmdError::err("SCRIPT DEBUG is not supported by Lattice")),
        "help" => Ok(Reply::Array(
            [
                "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "EXISTS <sha1> [<sha1> ...]",
                "    Return information about the existence of the scripts in the script cache.",
                "FLUSH [ASYNC|SYNC]",
                "    Flush the Lua scripts cache. Very dangerous on replicas.",
                "KILL",
                "    Kill the currently executing Lua script.",
                "LOAD <script>",
                "    Load a script into the scripts cache without executing it.",
                "HELP",
                "    Print this help.",
            ]
            .iter()
            .map(|l| Reply::Status((*l).to_owned()))
            .collect(),
        )),
        _ => Err(CmdError::err(format!(
            "unknown subcommand '{sub}'. Try SCRIPT HELP."
        ))),
    }
}

fn kill_reply(k: KillOutcome) -> Result<Reply, CmdError> {
    match k {
        KillOutcome::Killed => Ok(Reply::Ok),
        KillOutcome::NotBusy => Err(CmdError::Other(
            "NOTBUSY No scripts in execution right now.".into(),
        )),
        KillOutcome::Unkillable => Err(CmdError::Other(
            "UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.".into(),
        )),
    }
}

/// FUNCTION subcommands: writes go through the log, reads run here.
pub async fn function_command(conn: &Conn, sub: &str, args: &[Bytes]) -> Result<Reply, CmdError> {
    let shared = &conn.shared;
    match sub {
        "load" | "delete" | "flush" | "restore" => {
            let argv = args.get(1..).unwrap_or_default().to_vec();
            match shared.propose(Command::Function { argv }).await? {
                Outcome::Reply(r) => Ok(r),
                Outcome::Blocked { .. } => Err(CmdError::err("FUNCTION cannot block")),
            }
        }
        "list" | "dump" | "stats" => {
            let core = shared.core();
            let s = core
                .scripting
                .as_ref()
                .ok_or_else(|| CmdError::err("scripting is unavailable on this node"))?;
            Ok(lattice_script::functions::read(
                s,
                args.get(1..).unwrap_or_default(),
            ))
        }
        "kill" => kill_reply(shared.scripts.request_kill(true)),
        "help" => Ok(Reply::Array(
            [
                "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "LOAD [REPLACE] <FUNCTION CODE>",
                "    Create a new library with the given library name and code.",
                "DELETE <LIBRARY NAME>",
                "    Delete the given library.",
                "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
                "    Return general information on all the libraries:",
                "    * Library name",
                "    * The engine used to run the Library",
                "    * Library description",
                "    * Functions list",
                "    * Library code (if WITHCODE is given)",
                "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
                "STATS",
                "    Return information about the current function running:",
                "    * Function name",
                "    * Command used to run the function",
                "    * Duration in MS that the function is running",
                "    If no function is running, return nil",
                "    In addition, returns a list of available engines.",
                "KILL",
                "    Kill the current running function.",
                "FLUSH [ASYNC|SYNC]",
                "    Delete all the libraries.",
                "    When called without the optional mode argument, the behavior is determined by the",
                "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
                "    * ASYNC: Asynchronously flush the libraries.",
                "    * SYNC: Synchronously flush the libraries.",
                "DUMP",
                "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
                "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
                "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
                "    control how to handle existing libraries (default APPEND):",
                "    * FLUSH: delete all existing libraries.",
                "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
                "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
                "      libraries with the new libraries (notice that even on this option there is a chance of failure",
                "      in case of functions name collision with another library).",
                "HELP",
                "    Prints this help.",
            ]
            .iter()
            .map(|l| Reply::Status((*l).to_owned()))
            .collect(),
        )),
        _ => Err(CmdError::err(format!(
            "unknown subcommand '{sub}'. Try FUNCTION HELP."
        ))),
    }
}

/// Commands that run while a script is busy (Redis's `allow-busy`).
fn allowed_while_busy(r: &Resolved, args: &[Bytes]) -> bool {
    match (r.parent.map(|p| p.name), r.spec.name) {
        (Some("script" | "function"), "kill") | (Some("function"), "stats") => true,
        (None, "auth" | "hello" | "multi" | "discard" | "watch" | "unwatch" | "reset") => true,
        (None, "shutdown") => args
            .iter()
            .skip(1)
            .any(|a| a.eq_ignore_ascii_case(b"nosave")),
        _ => false,
    }
}

/// Waits while a script runs (without holding a thread or the engine
/// lock); past `busy-reply-threshold` answers `-BUSY` instead.
pub async fn busy_gate(shared: &Shared, r: &Resolved, args: &[Bytes]) -> Result<(), CmdError> {
    // No script: pass without registering for the wake-up (a Notify
    // registration per command showed in -P 16 profiles). A script that
    // starts right after this check is the same race as one that starts
    // right after the check below.
    if !shared.scripts.is_running() {
        return Ok(());
    }
    loop {
        let done = shared.script_done.notified();
        tokio::pin!(done);
        done.as_mut().enable();
        let Some(ran) = shared.scripts.running_for() else {
            return Ok(());
        };
        if allowed_while_busy(r, args) {
            return Ok(());
        }
        let threshold = shared.scripts.threshold();
        if ran >= threshold {
            let which = if shared.scripts.is_function() {
                "FUNCTION KILL"
            } else {
                "SCRIPT KILL"
            };
            return Err(CmdError::Other(format!(
                "BUSY Redis is busy running a script. You can only call {which} or SHUTDOWN NOSAVE."
            )));
        }
        tokio::select! {
            _ = &mut done => {}
            _ = tokio::time::sleep(threshold - ran) => {}
        }
    }
}
