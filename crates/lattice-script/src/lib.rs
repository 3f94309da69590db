//! Lua 5.1 scripting with Redis 7.0's semantics: `EVAL`-family scripts and
//! `FUNCTION` libraries run in one sandboxed VM ([`Scripting`]).
//!
//! What this crate owns:
//! * the VM and its sandbox (`bootstrap.lua`): read-only globals, the
//!   `redis` table (`call`, `pcall`, `error_reply`, `status_reply`,
//!   `sha1hex`, `log`, `setresp`, …), `cjson`, `cmsgpack`, `bit`, `struct`
//!   ([`libs`]), and a deterministic `math.random` ([`rand48`]);
//! * checking each `redis.call` as Redis does (unknown command, commands not
//!   allowed in scripts, arity, writes from read-only scripts) before the
//!   server runs it through [`Host`];
//! * the reply conversions ([`convert`]) and Redis's error texts;
//! * the script cache (`SCRIPT LOAD/EXISTS/FLUSH`), the function registry
//!   (`FUNCTION LOAD/DELETE/FLUSH/DUMP/RESTORE/LIST/STATS`, [`functions`]);
//! * the busy-script state shared with the server ([`ScriptControl`]):
//!   `busy-reply-threshold`, `SCRIPT KILL` / `FUNCTION KILL`.
//!
//! Determinism: a script runs at its log entry's time with `math.random`
//! seeded from the entry, so every replica (and a replay) computes the same
//! writes and reply.

pub mod convert;
pub mod functions;
pub mod libs;
pub mod rand48;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use lattice_engine::cmd::{self, CommandSpec};
use lattice_engine::{flags, CmdError, Reply};
use mlua::{Function, HookTriggers, Lua, LuaOptions, RegistryKey, StdLib, Table, Value, VmState};

use crate::functions::Registry;

/// The version scripts see in `redis.REDIS_VERSION`.
pub const REDIS_VERSION: &str = "7.0.15";
const REDIS_VERSION_NUM: i64 = 0x07_00_0f;

/// Instructions between two checks of the clock and the kill flag (Redis's
/// count hook uses the same period).
const HOOK_PERIOD: u32 = 100_000;

/// Marks the message of a Rust-raised error that is a command's error
/// reply (its text already has its code, so no `ERR` is added).
const REPLY_ERROR_MARK: &str = "\u{1}reply:";

/// Cap on the VM's memory (scripts, cached scripts and function libraries
/// together): a script allocating past it fails with Lua's "not enough
/// memory" instead of taking the server down. Redis has no cap.
pub const VM_MEMORY_LIMIT: usize = 1 << 30;

/// The text a killed script fails with.
pub const KILLED: &str = "ERR Script killed by user with SCRIPT KILL...";

/// Runs the commands a script calls. The server implements it over its
/// engine: reads at the script's time, writes applied (with their effects)
/// as part of the script's log entry.
pub trait Host {
    /// Runs `args` (`args[0]` is the name) in database `db`. The call has
    /// been checked: the command exists, may run in scripts, has a valid
    /// arity, and is a write only if the script may write.
    fn call(&mut self, db: usize, spec: &'static CommandSpec, args: Vec<Bytes>) -> Reply;
    /// Number of databases (`SELECT` inside a script checks it).
    fn db_count(&self) -> usize;
}

/// Where and how one script runs.
#[derive(Debug, Clone, Copy)]
pub struct RunCtx {
    /// Database selected by the caller.
    pub db: usize,
    /// The entry's time (Unix ms): `TIME` inside the script answers it.
    pub time_ms: u64,
    /// Seed of `math.random`.
    pub seed: u64,
    /// The caller speaks RESP3 (shapes the reply conversion).
    pub resp3: bool,
    /// Writes are refused (`EVAL_RO`, `FCALL_RO`, `no-writes` scripts).
    pub read_only: bool,
}

/// Flags from a script's `#!lua flags=…` line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScriptFlags {
    /// The script had a shebang line (scripts without one may write).
    pub shebang: bool,
    /// `no-writes`
    pub no_writes: bool,
}

/// Whether a running script can be killed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillOutcome {
    /// No script is running.
    NotBusy,
    /// The script already wrote: it must run to its end.
    Unkillable,
    /// The script will stop at its next check.
    Killed,
}

/// The busy-script state, shared by the thread running a script and the
/// connections that must answer `-BUSY` or kill it.
#[derive(Debug)]
pub struct ScriptControl {
    epoch: Instant,
    /// Milliseconds since `epoch` + 1 when the running script started; 0
    /// when none runs.
    started: AtomicU64,
    kill: AtomicBool,
    wrote: AtomicBool,
    function: AtomicBool,
    /// `busy-reply-threshold` in milliseconds.
    threshold_ms: AtomicU64,
    /// Replaying the log: no client can send SCRIPT KILL, so a script that
    /// has not written is stopped at the threshold (it changes nothing
    /// either way; its live run was killed or finished without writing).
    auto_kill: AtomicBool,
    /// `redis.setresp` of the running script: 2 or 3.
    resp: AtomicU8,
    /// Log index of the entry whose script runs (0: not from the log).
    entry: AtomicU64,
    /// `math.random`'s state, seeded from the entry at each run.
    rand: Mutex<rand48::Rand48>,
}

impl Default for ScriptControl {
    fn default() -> Self {
        ScriptControl {
            epoch: Instant::now(),
            started: AtomicU64::new(0),
            kill: AtomicBool::new(false),
            wrote: AtomicBool::new(false),
            function: AtomicBool::new(false),
            threshold_ms: AtomicU64::new(5000),
            auto_kill: AtomicBool::new(false),
            resp: AtomicU8::new(2),
            entry: AtomicU64::new(0),
            rand: Mutex::new(rand48::Rand48::new(0)),
        }
    }
}

impl ScriptControl {
    /// Whether a script runs now (one atomic load: the per-command fast
    /// path of the busy gate).
    pub fn is_running(&self) -> bool {
        self.started.load(Ordering::Acquire) != 0
    }

    /// How long the running script has run, if one runs.
    pub fn running_for(&self) -> Option<Duration> {
        let s = self.started.load(Ordering::Acquire);
        if s == 0 {
            return None;
        }
        let now = self.epoch.elapsed().as_millis() as u64 + 1;
        Some(Duration::from_millis(now.saturating_sub(s)))
    }

    /// True while a script runs past `busy-reply-threshold`: other clients
    /// get `-BUSY`.
    pub fn is_busy(&self) -> bool {
        self.running_for()
            .is_some_and(|d| d.as_millis() as u64 >= self.threshold_ms.load(Ordering::Relaxed))
    }

    /// Records the log index of the entry being applied (0 after it).
    pub fn set_entry(&self, index: u64) {
        self.entry.store(index, Ordering::Release);
    }

    /// The log index of the running script's entry, if a logged script
    /// runs now.
    pub fn running_entry(&self) -> Option<u64> {
        self.running_for()?;
        match self.entry.load(Ordering::Acquire) {
            0 => None,
            i => Some(i),
        }
    }

    /// Whether the running script has written.
    pub fn has_written(&self) -> bool {
        self.wrote.load(Ordering::Acquire)
    }

    /// Whether the running script is a function (FCALL).
    pub fn is_function(&self) -> bool {
        self.function.load(Ordering::Relaxed)
    }

    /// `busy-reply-threshold` in milliseconds.
    pub fn threshold(&self) -> Duration {
        Duration::from_millis(self.threshold_ms.load(Ordering::Relaxed))
    }

    /// Sets `busy-reply-threshold` (0 keeps scripts from ever being busy
    /// killable, as Redis's 0 means no limit).
    pub fn set_threshold_ms(&self, ms: u64) {
        self.threshold_ms
            .store(if ms == 0 { u64::MAX } else { ms }, Ordering::Relaxed);
    }

    /// Turns automatic killing of non-writing scripts on (log replay) or off.
    pub fn set_auto_kill(&self, on: bool) {
        self.auto_kill.store(on, Ordering::Relaxed);
    }

    /// SCRIPT KILL / FUNCTION KILL. `function` is which one was sent.
    pub fn request_kill(&self, function: bool) -> KillOutcome {
        if self.running_for().is_none() {
            return KillOutcome::NotBusy;
        }
        if self.is_function() != function && function {
            return KillOutcome::NotBusy;
        }
        if self.wrote.load(Ordering::Acquire) {
            return KillOutcome::Unkillable;
        }
        self.kill.store(true, Ordering::Release);
        KillOutcome::Killed
    }

    /// Marks a script as running before its runner takes the engine lock,
    /// so a command never finds the lock held by a script that is not yet
    /// visible here. [`ScriptControl::finish`] clears it.
    pub fn announce(&self) {
        let now = self.epoch.elapsed().as_millis() as u64 + 1;
        self.started.store(now, Ordering::Release);
    }

    fn begin(&self, function: bool) {
        self.kill.store(false, Ordering::Relaxed);
        self.wrote.store(false, Ordering::Relaxed);
        self.function.store(function, Ordering::Relaxed);
        self.resp.store(2, Ordering::Relaxed);
        let now = self.epoch.elapsed().as_millis() as u64 + 1;
        self.started.store(now, Ordering::Release);
    }

    /// Clears the running mark (idempotent: after the run, or when the
    /// announced script never ran).
    pub fn finish(&self) {
        self.started.store(0, Ordering::Release);
        self.kill.store(false, Ordering::Relaxed);
    }

    /// The hook's decision: keep going or stop the script.
    fn check(&self) -> Result<(), ()> {
        if self.kill.load(Ordering::Acquire) {
            return Err(());
        }
        if self.auto_kill.load(Ordering::Relaxed)
            && !self.wrote.load(Ordering::Relaxed)
            && self.is_busy()
        {
            self.kill.store(true, Ordering::Release);
            return Err(());
        }
        Ok(())
    }
}

/// A compiled script in the cache.
struct Cached {
    body: Bytes,
    flags: ScriptFlags,
    func: RegistryKey,
}

/// The scripting engine: one Lua VM, the script cache, the function
/// registry and the busy-script control.
pub struct Scripting {
    lua: Lua,
    /// The table behind the read-only globals (KEYS and ARGV go here).
    real: Table,
    /// Per-run slots (`raw`, `loading`, `run`).
    hidden: Table,
    /// The error handler every run uses.
    handler: Function,
    /// The load-time `redis` table (register_function).
    load_redis: Table,
    scripts: HashMap<String, Cached>,
    /// Function libraries (replicated state: changed only by log commands).
    pub functions: Registry,
    control: Arc<ScriptControl>,
}

/// Why the VM could not be created.
#[derive(Debug, thiserror::Error)]
#[error("cannot create the Lua VM: {0}")]
pub struct VmError(String);

impl From<mlua::Error> for VmError {
    fn from(e: mlua::Error) -> Self {
        VmError(e.to_string())
    }
}

/// Lowercase hex SHA1 of `data` (script ids, `redis.sha1hex`).
pub fn sha1_hex(data: &[u8]) -> String {
    sha1_smol::Sha1::from(data).digest().to_string()
}

impl Scripting {
    /// A fresh VM with the sandbox installed.
    pub fn new() -> Result<Scripting, VmError> {
        let lua = Lua::new_with(
            StdLib::TABLE | StdLib::STRING | StdLib::MATH,
            LuaOptions::default(),
        )?;
        lua.set_memory_limit(VM_MEMORY_LIMIT)?;
        libs::register_all(&lua)?;
        let control = Arc::new(ScriptControl::default());
        install_math(&lua, &control)?;
        let real = lua.create_table()?;
        let hidden = lua.create_table()?;
        let load_redis = lua.create_table()?;
        let run_redis = lua.create_table()?;
        install_redis_table(&lua, &run_redis, &control)?;
        install_call(&lua, &run_redis, &hidden, &control)?;
        let boot: Function = lua
            .load(include_str!("bootstrap.lua"))
            .set_name("=lattice")
            .into_function()?;
        let _env: Table = boot.call((
            real.clone(),
            hidden.clone(),
            load_redis.clone(),
            run_redis.clone(),
        ))?;
        install_guards(&lua, &real, &hidden)?;
        let handler = lua.create_function(error_handler)?;
        let hook_control = control.clone();
        lua.set_hook(
            HookTriggers::new().every_nth_instruction(HOOK_PERIOD),
            move |_lua, _debug| match hook_control.check() {
                Ok(()) => Ok(VmState::Continue),
                Err(()) => Err(mlua::Error::RuntimeError(KILLED.to_owned())),
            },
        );
        Ok(Scripting {
            lua,
            real,
            hidden,
            handler,
            load_redis,
            scripts: HashMap::new(),
            functions: Registry::default(),
            control,
        })
    }

    /// The busy-script state, for the server's connections.
    pub fn control(&self) -> Arc<ScriptControl> {
        self.control.clone()
    }

    /// Compiles `body` into the cache (SCRIPT LOAD, and EVAL's first run)
    /// and returns its SHA1.
    pub fn load(&mut self, body: &Bytes) -> Result<String, CmdError> {
        let sha = sha1_hex(body);
        if self.scripts.contains_key(&sha) {
            return Ok(sha);
        }
        let (flags, code) = parse_shebang(body)?;
        let env: Table = self.real_env()?;
        let func = self
            .lua
            .load(code.as_ref())
            .set_name("@user_script")
            .set_environment(env)
            .into_function()
            .map_err(|e| {
                CmdError::err(format!(
                    "Error compiling script (new function): {}",
                    error_text(&e)
                ))
            })?;
        let func = self
            .lua
            .create_registry_value(func)
            .map_err(|e| CmdError::err(e.to_string()))?;
        self.scripts.insert(
            sha.clone(),
            Cached {
                body: body.clone(),
                flags,
                func,
            },
        );
        Ok(sha)
    }

    /// The read-only globals view (the `_G` scripts see).
    fn real_env(&self) -> Result<Table, CmdError> {
        self.real
            .raw_get::<Table>("_G")
            .map_err(|e| CmdError::err(e.to_string()))
    }

    /// SCRIPT EXISTS for one SHA1.
    pub fn exists(&self, sha: &str) -> bool {
        self.scripts.contains_key(&sha.to_ascii_lowercase())
    }

    /// The body of a cached script (EVALSHA becomes EVAL with it).
    pub fn body(&self, sha: &str) -> Option<Bytes> {
        self.scripts
            .get(&sha.to_ascii_lowercase())
            .map(|c| c.body.clone())
    }

    /// SCRIPT FLUSH.
    pub fn flush(&mut self) {
        for (_, c) in self.scripts.drain() {
            let _ = self.lua.remove_registry_value(c.func);
        }
        self.lua.expire_registry_values();
        let _ = self.lua.gc_collect();
    }

    /// Flags of a script body (its shebang line), for EVAL_RO's check and
    /// for running `no-writes` scripts as reads.
    pub fn flags_of(body: &[u8]) -> Result<ScriptFlags, CmdError> {
        parse_shebang(body).map(|(f, _)| f)
    }

    /// Runs `EVAL body numkeys key… arg…` (`argv` without the command
    /// name). Always answers: errors are error replies with Redis's text.
    pub fn eval(&mut self, argv: &[Bytes], ctx: RunCtx, host: &mut dyn Host) -> Reply {
        let Some(body) = argv.first() else {
            return Reply::Error(CmdError::Arity("eval".into()));
        };
        let (keys, args) = match split_keys(argv.get(1..).unwrap_or_default()) {
            Ok(v) => v,
            Err(e) => return Reply::Error(e),
        };
        let sha = match self.load(body) {
            Ok(s) => s,
            Err(e) => return Reply::Error(e),
        };
        let Some(cached) = self.scripts.get(&sha) else {
            return Reply::Error(CmdError::Other(
                "NOSCRIPT No matching script. Please use EVAL.".into(),
            ));
        };
        let mut ctx = ctx;
        if cached.flags.no_writes {
            ctx.read_only = true;
        }
        let func: Function = match self.lua.registry_value(&cached.func) {
            Ok(f) => f,
            Err(e) => return Reply::Error(CmdError::err(e.to_string())),
        };
        let keys_t = self.strings_table(&keys);
        let args_t = self.strings_table(&args);
        if let (Ok(k), Ok(a)) = (keys_t, args_t) {
            let _ = self.real.raw_set("KEYS", k);
            let _ = self.real.raw_set("ARGV", a);
        }
        let reply = self.run(&func, None, &sha, ctx, host, false);
        // KEYS and ARGV belong to this run only: functions and later
        // library loads must not see them.
        let _ = self.real.raw_set("KEYS", Value::Nil);
        let _ = self.real.raw_set("ARGV", Value::Nil);
        reply
    }

    /// Runs `FCALL name numkeys key… arg…` (`argv` without the command
    /// name); `ro` is FCALL_RO.
    pub fn fcall(&mut self, argv: &[Bytes], ro: bool, ctx: RunCtx, host: &mut dyn Host) -> Reply {
        let Some(name) = argv.first() else {
            return Reply::Error(CmdError::Arity("fcall".into()));
        };
        let (keys, args) = match split_keys(argv.get(1..).unwrap_or_default()) {
            Ok(v) => v,
            Err(CmdError::NotInteger) => {
                return Reply::Error(CmdError::err("Bad number of keys provided"))
            }
            Err(e) => return Reply::Error(e),
        };
        let Some(f) = self.functions.function(name) else {
            return Reply::Error(CmdError::err("Function not found"));
        };
        let mut ctx = ctx;
        if f.no_writes {
            ctx.read_only = true;
        } else if ro {
            return Reply::Error(CmdError::err(
                "Can not execute a script with write flag using *_ro command.",
            ));
        }
        let label = f.name.clone();
        let func: Function = match self.lua.registry_value(&f.callback) {
            Ok(f) => f,
            Err(e) => return Reply::Error(CmdError::err(e.to_string())),
        };
        let (Ok(k), Ok(a)) = (self.strings_table(&keys), self.strings_table(&args)) else {
            return Reply::Error(CmdError::err("out of memory"));
        };
        self.run(&func, Some((k, a)), &label, ctx, host, true)
    }

    fn strings_table(&self, items: &[Bytes]) -> mlua::Result<Table> {
        let t = self.lua.create_table_with_capacity(items.len(), 0)?;
        for (i, b) in items.iter().enumerate() {
            t.raw_set(i + 1, self.lua.create_string(b)?)?;
        }
        Ok(t)
    }

    /// Runs a compiled script or function with `redis.call` bound to
    /// `host`, under the busy-script control.
    fn run(
        &mut self,
        func: &Function,
        fargs: Option<(Table, Table)>,
        label: &str,
        ctx: RunCtx,
        host: &mut dyn Host,
        is_function: bool,
    ) -> Reply {
        let control = self.control.clone();
        control.begin(is_function);
        *control
            .rand
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            rand48::Rand48::new((ctx.seed ^ (ctx.seed >> 32)) as u32 as i32);
        let mut call_state = CallState {
            db: ctx.db,
            time_ms: ctx.time_ms,
            read_only: ctx.read_only,
            control: control.clone(),
        };
        let hidden = self.hidden.clone();
        let handler = self.handler.clone();
        let result = self.lua.scope(|scope| {
            let raw = scope.create_function_mut(|lua, args: mlua::MultiValue| {
                let (ok, v) = call_state.call(lua, host, args)?;
                Ok((ok, v))
            })?;
            hidden.raw_set("raw", raw)?;
            let runner: Function = hidden.raw_get("run")?;
            let out: (bool, Value) = match &fargs {
                None => runner.call((func.clone(), handler.clone()))?,
                Some((k, a)) => {
                    runner.call((func.clone(), handler.clone(), k.clone(), a.clone()))?
                }
            };
            hidden.raw_set("raw", Value::Nil)?;
            Ok(out)
        });
        // Redis 7.0 shapes booleans by the script's redis.setresp choice,
        // not by the client's protocol (the encoder adapts the rest).
        let resp3_script = control.resp.load(Ordering::Relaxed) == 3;
        let reply = match result {
            Ok((true, v)) => convert::lua_to_reply(&v, resp3_script),
            Ok((false, err)) => Reply::Error(script_error(&err, label)),
            Err(e) => Reply::Error(CmdError::err(format!(
                "Error running script {label}: {}",
                error_text(&e)
            ))),
        };
        control.finish();
        // The VM's memory is shared by every script; collect what this run
        // left, in steps, so one script's garbage does not pile up.
        let _ = self.lua.gc_step();
        reply
    }

    pub(crate) fn lua(&self) -> &Lua {
        &self.lua
    }

    pub(crate) fn hidden(&self) -> &Table {
        &self.hidden
    }

    pub(crate) fn load_redis(&self) -> &Table {
        &self.load_redis
    }

    pub(crate) fn env(&self) -> Result<Table, CmdError> {
        self.real_env()
    }

    pub(crate) fn handler(&self) -> &Function {
        &self.handler
    }
}

/// What `redis.call` needs between calls of one run.
struct CallState {
    db: usize,
    time_ms: u64,
    read_only: bool,
    control: Arc<ScriptControl>,
}

impl CallState {
    /// One `redis.call`/`redis.pcall`: (true, reply) or (false, {err=…}).
    fn call(
        &mut self,
        lua: &Lua,
        host: &mut dyn Host,
        args: mlua::MultiValue,
    ) -> mlua::Result<(bool, Value)> {
        let resp3 = self.control.resp.load(Ordering::Relaxed) == 3;
        match self.check_and_run(lua, host, args) {
            Ok(Reply::Error(e)) => Ok((false, convert::error_table(lua, &e.wire_text())?)),
            Ok(r) => Ok((true, convert::reply_to_lua(lua, &r, resp3)?)),
            Err(e) => Ok((false, convert::error_table(lua, &e.wire_text())?)),
        }
    }

    fn check_and_run(
        &mut self,
        _lua: &Lua,
        host: &mut dyn Host,
        args: mlua::MultiValue,
    ) -> Result<Reply, CmdError> {
        if args.is_empty() {
            return Err(CmdError::err(
                "Please specify at least one argument for this redis lib call",
            ));
        }
        let mut argv = Vec::with_capacity(args.len());
        for v in args {
            let s = match v {
                Value::String(s) => Bytes::copy_from_slice(&s.as_bytes()),
                // Redis formats numbers with %.17g (3.7 → 3.7000000000000002).
                Value::Integer(n) => Bytes::from(n.to_string()),
                Value::Number(n) => Bytes::from(lattice_engine::number::format_double(n)),
                _ => return Err(arg_type_error()),
            };
            argv.push(s);
        }
        let resolved = match cmd::resolve(&argv) {
            Ok(r) => r,
            Err(CmdError::Arity(_)) => {
                return Err(CmdError::err(
                    "Wrong number of args calling Redis command from script",
                ))
            }
            Err(e)
                if e.wire_text().starts_with("ERR unknown command")
                    || e.wire_text().starts_with("ERR unknown subcommand") =>
            {
                return Err(CmdError::err("Unknown Redis command called from script"))
            }
            Err(e) => return Err(e),
        };
        let spec = resolved.spec;
        let name = resolved.parent.map_or(spec.name, |p| p.name);
        // Blocking commands without `noscript` (BLMPOP, BZMPOP) run without
        // blocking, as in Redis.
        if spec.flags & flags::NOSCRIPT != 0 {
            return Err(not_allowed());
        }
        // Redis's `may-replicate` commands count as writes for read-only
        // scripts.
        let may_replicate = matches!(name, "publish" | "spublish" | "pfcount");
        if may_replicate && self.read_only {
            return Err(CmdError::err(
                "Write commands are not allowed from read-only scripts.",
            ));
        }
        if spec.handler.is_none() {
            match name {
                "ping" => {
                    return Ok(match argv.get(1) {
                        Some(m) => Reply::Bulk(m.clone()),
                        None => Reply::Status("PONG".into()),
                    })
                }
                "time" => {
                    let s = self.time_ms / 1000;
                    let us = (self.time_ms % 1000) * 1000;
                    return Ok(Reply::Array(vec![
                        Reply::bulk_int(s as i64),
                        Reply::bulk_int(us as i64),
                    ]));
                }
                "select" => {
                    let db = argv
                        .get(1)
                        .and_then(|a| lattice_engine::number::parse_i64(a))
                        .ok_or(CmdError::NotInteger)?;
                    if db < 0 || db as u64 >= host.db_count() as u64 {
                        return Err(CmdError::DbIndexOutOfRange);
                    }
                    self.db = db as usize;
                    return Ok(Reply::Ok);
                }
                "publish" | "spublish" => {}
                _ => return Err(not_allowed()),
            }
        }
        if spec.is_write() && name != "publish" && name != "spublish" {
            if self.read_only {
                return Err(CmdError::err(
                    "Write commands are not allowed from read-only scripts.",
                ));
            }
            self.control.wrote.store(true, Ordering::Release);
        }
        Ok(host.call(self.db, spec, argv))
    }
}

fn arg_type_error() -> CmdError {
    CmdError::err("Lua redis lib command arguments must be strings or integers")
}

fn not_allowed() -> CmdError {
    CmdError::err("This Redis command is not allowed from script")
}

/// The `redis` functions implemented in Rust.
fn install_redis_table(lua: &Lua, t: &Table, control: &Arc<ScriptControl>) -> mlua::Result<()> {
    t.raw_set(
        "sha1hex",
        lua.create_function(|lua, args: mlua::MultiValue| {
            let [v] = <[Value; 1]>::try_from(args.into_iter().collect::<Vec<_>>())
                .map_err(|_| mlua::Error::RuntimeError("wrong number of arguments".into()))?;
            let s = lua
                .coerce_string(v)?
                .ok_or_else(|| mlua::Error::RuntimeError("wrong number of arguments".into()))?;
            Ok(sha1_hex(&s.as_bytes()))
        })?,
    )?;
    t.raw_set(
        "log",
        lua.create_function(|lua, args: mlua::MultiValue| {
            if args.len() < 2 {
                return Err(mlua::Error::RuntimeError(
                    "redis.log() requires two arguments or more.".into(),
                ));
            }
            let mut it = args.into_iter();
            let level = match it.next() {
                Some(Value::Integer(n)) => n,
                Some(Value::Number(n)) => n as i64,
                _ => {
                    return Err(mlua::Error::RuntimeError(
                        "First argument must be a number (log level).".into(),
                    ))
                }
            };
            let mut msg = String::new();
            for (i, v) in it.enumerate() {
                if i > 0 {
                    msg.push(' ');
                }
                if let Ok(Some(s)) = lua.coerce_string(v) {
                    msg.push_str(&s.to_string_lossy());
                }
            }
            match level {
                0 => tracing::debug!(target: "lattice::script", "{msg}"),
                1 | 2 => tracing::info!(target: "lattice::script", "{msg}"),
                3 => tracing::warn!(target: "lattice::script", "{msg}"),
                _ => {
                    return Err(mlua::Error::RuntimeError("Invalid debug level.".into()));
                }
            }
            Ok(())
        })?,
    )?;
    for (k, v) in [
        ("LOG_DEBUG", 0),
        ("LOG_VERBOSE", 1),
        ("LOG_NOTICE", 2),
        ("LOG_WARNING", 3),
        ("REPL_NONE", 0),
        ("REPL_AOF", 1),
        ("REPL_SLAVE", 2),
        ("REPL_REPLICA", 2),
        ("REPL_ALL", 3),
    ] {
        t.raw_set(k, v)?;
    }
    t.raw_set("REDIS_VERSION", REDIS_VERSION)?;
    t.raw_set("REDIS_VERSION_NUM", REDIS_VERSION_NUM)?;
    let c = control.clone();
    t.raw_set(
        "setresp",
        lua.create_function(move |lua, args: mlua::MultiValue| {
            if args.len() != 1 {
                return Err(mlua::Error::RuntimeError(
                    "redis.setresp() requires one argument.".into(),
                ));
            }
            let n = match args.into_iter().next() {
                Some(Value::Integer(n)) => n,
                Some(Value::Number(n)) => n as i64,
                Some(v @ Value::String(_)) => lua.coerce_number(v)?.map_or(0, |n| n as i64),
                _ => 0,
            };
            if n != 2 && n != 3 {
                return Err(mlua::Error::RuntimeError(
                    "ERR RESP version must be 2 or 3.".into(),
                ));
            }
            c.resp.store(n as u8, Ordering::Relaxed);
            Ok(())
        })?,
    )?;
    // Effects replication is the only mode; set_repl checks its argument
    // as Redis does and changes nothing (a script is one log entry).
    t.raw_set(
        "set_repl",
        lua.create_function(|_, args: mlua::MultiValue| {
            let v: Vec<Value> = args.into_iter().collect();
            let [flags] = v.as_slice() else {
                return Err(mlua::Error::RuntimeError(
                    "redis.set_repl() requires two arguments.".into(),
                ));
            };
            let n = match flags {
                Value::Integer(n) => *n,
                Value::Number(n) => *n as i64,
                _ => -1,
            };
            if !(0..=3).contains(&n) {
                return Err(mlua::Error::RuntimeError(
                    "Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE."
                        .into(),
                ));
            }
            Ok(())
        })?,
    )?;
    // No ACLs yet: every existing command is allowed.
    t.raw_set(
        "acl_check_cmd",
        lua.create_function(|lua, args: mlua::MultiValue| {
            let mut argv = Vec::new();
            for v in args {
                match lua.coerce_string(v)? {
                    Some(s) => argv.push(Bytes::copy_from_slice(&s.as_bytes())),
                    None => {
                        return Err(mlua::Error::RuntimeError(
                            "Lua redis lib command arguments must be strings or integers".into(),
                        ))
                    }
                }
            }
            if argv.is_empty() {
                return Err(mlua::Error::RuntimeError(
                    "Please specify at least one argument for this redis lib call".into(),
                ));
            }
            match cmd::resolve(&argv) {
                Ok(_) | Err(CmdError::Arity(_)) => Ok(true),
                Err(_) => Err(mlua::Error::RuntimeError(
                    "Invalid command passed to redis.acl_check_cmd()".into(),
                )),
            }
        })?,
    )?;
    t.raw_set(
        "replicate_commands",
        lua.create_function(|_, _: mlua::MultiValue| Ok(true))?,
    )?;
    t.raw_set(
        "breakpoint",
        lua.create_function(|_, _: mlua::MultiValue| Ok(false))?,
    )?;
    t.raw_set(
        "debug",
        lua.create_function(|_, _: mlua::MultiValue| Ok(()))?,
    )?;
    Ok(())
}

/// `rawset` and `setmetatable` refusing the read-only views, as Rust
/// functions so a `return rawset(_G, …)` tail call keeps the script frame
/// that the error names (Redis's are C functions).
fn install_guards(lua: &Lua, real: &Table, hidden: &Table) -> mlua::Result<()> {
    let protected: Table = hidden.raw_get("protected")?;
    let readonly = || mlua::Error::RuntimeError("Attempt to modify a readonly table".into());
    let p = protected.clone();
    real.raw_set(
        "rawset",
        lua.create_function(move |_, (t, k, v): (Table, Value, Value)| {
            if p.raw_get::<Option<bool>>(t.clone())?.unwrap_or(false) {
                return Err(readonly());
            }
            t.raw_set(k, v)?;
            Ok(t)
        })?,
    )?;
    let orig: Function = lua.globals().get("setmetatable")?;
    real.raw_set(
        "setmetatable",
        lua.create_function(move |_, (t, m): (Value, Value)| {
            if let Value::Table(tt) = &t {
                if protected
                    .raw_get::<Option<bool>>(tt.clone())?
                    .unwrap_or(false)
                {
                    return Err(readonly());
                }
            }
            orig.call::<Value>((t, m))
        })?,
    )?;
    Ok(())
}

/// `redis.call` (raises a failed call's error) and `hidden.normalize`
/// (turns that error back into `{err=…}` for `pcall`).
fn install_call(
    lua: &Lua,
    run_redis: &Table,
    hidden: &Table,
    control: &Arc<ScriptControl>,
) -> mlua::Result<()> {
    let h = hidden.clone();
    run_redis.raw_set(
        "call",
        lua.create_function(move |_, args: mlua::MultiValue| {
            let raw: Function = h.raw_get("raw")?;
            let (ok, v): (bool, Value) = raw.call(args)?;
            if ok {
                return Ok(v);
            }
            let text = match &v {
                Value::Table(t) => t.raw_get::<String>("err").unwrap_or_default(),
                _ => String::new(),
            };
            Err(mlua::Error::RuntimeError(format!(
                "{REPLY_ERROR_MARK}{text}"
            )))
        })?,
    )?;
    // pcall: a failed redis.call becomes its error text (Redis 7.0's pcall
    // hands scripts strings).
    hidden.raw_set(
        "normalize",
        lua.create_function(|lua, v: Value| match &v {
            Value::Error(e) => {
                let t = error_text(e);
                let text = t.strip_prefix(REPLY_ERROR_MARK).unwrap_or(&t);
                Ok(Value::String(lua.create_string(text)?))
            }
            _ => Ok(v),
        })?,
    )?;
    // xpcall handlers: a failed redis.call becomes its {err=…} table.
    hidden.raw_set(
        "to_table",
        lua.create_function(|lua, v: Value| match &v {
            Value::Error(e) => match error_text(e).strip_prefix(REPLY_ERROR_MARK) {
                Some(text) => convert::error_table(lua, text),
                None => Ok(v),
            },
            _ => Ok(v),
        })?,
    )?;
    // A kill cannot be caught: pcall, xpcall and coroutine.resume raise it
    // again as soon as they return.
    let c = control.clone();
    hidden.raw_set(
        "rethrow_kill",
        lua.create_function(move |_, v: mlua::MultiValue| {
            if matches!(v.front(), Some(Value::Boolean(false))) && c.kill.load(Ordering::Acquire) {
                return Err(mlua::Error::RuntimeError(KILLED.to_owned()));
            }
            Ok(v)
        })?,
    )?;
    Ok(())
}

/// The text of a script-visible error value, as an error reply would carry
/// it (a failed `redis.call` keeps its code).
pub(crate) fn reply_error_text(e: &mlua::Error) -> String {
    let t = error_text(e);
    match t.strip_prefix(REPLY_ERROR_MARK) {
        Some(s) => s.to_owned(),
        None => t,
    }
}

/// Replaces `math.random`/`math.randomseed` with Redis's rand48 versions,
/// whose state each run seeds from its entry.
fn install_math(lua: &Lua, control: &Arc<ScriptControl>) -> mlua::Result<()> {
    let math: Table = lua.globals().get("math")?;
    let c = control.clone();
    math.raw_set(
        "random",
        lua.create_function(move |_, args: mlua::MultiValue| {
            let r = c
                .rand
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .next_unit();
            let int_arg = |v: &Value| -> mlua::Result<i64> {
                match v {
                    Value::Integer(n) => Ok(*n),
                    Value::Number(n) => Ok(*n as i64),
                    _ => Err(mlua::Error::RuntimeError(
                        "bad argument to 'random' (number expected)".into(),
                    )),
                }
            };
            let v: Vec<Value> = args.into_iter().collect();
            match v.as_slice() {
                [] => Ok(r),
                [u] => {
                    let u = int_arg(u)?;
                    if u < 1 {
                        return Err(mlua::Error::RuntimeError(
                            "bad argument #1 to 'random' (interval is empty)".into(),
                        ));
                    }
                    Ok((r * u as f64).floor() + 1.0)
                }
                [l, u] => {
                    let (l, u) = (int_arg(l)?, int_arg(u)?);
                    if l > u {
                        return Err(mlua::Error::RuntimeError(
                            "bad argument #2 to 'random' (interval is empty)".into(),
                        ));
                    }
                    Ok((r * (u - l + 1) as f64).floor() + l as f64)
                }
                _ => Err(mlua::Error::RuntimeError(
                    "wrong number of arguments".into(),
                )),
            }
        })?,
    )?;
    let c = control.clone();
    math.raw_set(
        "randomseed",
        lua.create_function(move |_, seed: f64| {
            *c.rand
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) =
                rand48::Rand48::new(seed as i64 as i32);
            Ok(())
        })?,
    )?;
    Ok(())
}

/// The error handler of every run (Redis's `__redis__err__handler`): turns
/// the error into `{err=…, source=…, line=…}`, locating the first script
/// frame (not C, not the sandbox's own Lua).
fn error_handler(lua: &Lua, err: Value) -> mlua::Result<Table> {
    let t = match err {
        Value::Table(t) => t,
        other => {
            let msg = match &other {
                Value::Error(e) => {
                    let t = error_text(e);
                    if let Some(reply) = t.strip_prefix(REPLY_ERROR_MARK) {
                        let t = lua.create_table()?;
                        t.raw_set("err", reply)?;
                        return locate(lua, t);
                    }
                    t
                }
                Value::String(s) => s.to_string_lossy(),
                v => lua
                    .coerce_string(v.clone())
                    .ok()
                    .flatten()
                    .map_or_else(|| v.type_name().to_owned(), |s| s.to_string_lossy()),
            };
            let t = lua.create_table()?;
            let text = if msg.starts_with("ERR ") {
                msg
            } else {
                format!("ERR {msg}")
            };
            t.raw_set("err", text)?;
            t
        }
    };
    locate(lua, t)
}

/// Adds `source` and `line` of the first script frame to an error table.
fn locate(lua: &Lua, t: Table) -> mlua::Result<Table> {
    for level in 1..64 {
        let Some(d) = lua.inspect_stack(level) else {
            break;
        };
        let src = d.source();
        if src.what == "C"
            || matches!(
                src.source.as_deref(),
                Some("=lattice" | "=(tail call)" | libs::SHIM_SOURCE)
            )
        {
            continue;
        }
        if let Some(s) = src.source.as_deref() {
            t.raw_set("source", s)?;
            t.raw_set("line", d.curr_line())?;
        }
        break;
    }
    Ok(t)
}

/// The innermost message of an mlua error (callback errors wrap the one a
/// Rust function raised).
fn error_text(e: &mlua::Error) -> String {
    match e {
        // mlua appends a traceback to errors of Lua functions called from
        // Rust; scripts and replies carry the message only.
        mlua::Error::RuntimeError(m) => m
            .split("\nstack traceback:")
            .next()
            .unwrap_or_default()
            .to_owned(),
        mlua::Error::CallbackError { cause, .. } => error_text(cause),
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

/// Formats a failed run's error table as Redis: `<err> script: <name>, on
/// <source>:<line>.`
fn script_error(err: &Value, label: &str) -> CmdError {
    let Value::Table(t) = err else {
        // Not through the handler (out of memory): Redis's fallback text.
        let msg = match err {
            Value::String(s) => s.to_string_lossy(),
            Value::Error(e) => error_text(e),
            _ => "execution failure".to_owned(),
        };
        return CmdError::err(format!("Error running script {label}, {msg}"));
    };
    let msg: String = match t.raw_get::<Value>("err") {
        Ok(Value::String(s)) => s.to_string_lossy(),
        _ => "ERR unknown error".to_owned(),
    };
    let source: Option<String> = t.raw_get("source").ok();
    let line: Option<i64> = t.raw_get("line").ok();
    let mut text = msg.strip_prefix('-').unwrap_or(&msg).to_owned();
    if let (Some(s), Some(l)) = (source, line) {
        text.push_str(&format!(" script: {label}, on {s}:{l}."));
    }
    CmdError::Other(text.replace(['\r', '\n'], " "))
}

/// `numkeys key… arg…` → (keys, args), with Redis's errors.
pub fn split_keys(rest: &[Bytes]) -> Result<(Vec<Bytes>, Vec<Bytes>), CmdError> {
    let Some(n) = rest.first() else {
        return Err(CmdError::err(
            "Number of keys can't be greater than number of args",
        ));
    };
    let n = lattice_engine::number::parse_i64(n).ok_or(CmdError::NotInteger)?;
    if n < 0 {
        return Err(CmdError::err("Number of keys can't be negative"));
    }
    let tail = rest.get(1..).unwrap_or_default();
    if n as u64 > tail.len() as u64 {
        return Err(CmdError::err(
            "Number of keys can't be greater than number of args",
        ));
    }
    let (k, a) = tail.split_at(n as usize);
    Ok((k.to_vec(), a.to_vec()))
}

/// Splits a body's `#!lua flags=…` line off: (flags, code to compile). The
/// line is blanked, not removed, so line numbers stay the user's.
fn parse_shebang(body: &[u8]) -> Result<(ScriptFlags, std::borrow::Cow<'_, [u8]>), CmdError> {
    if !body.starts_with(b"#!") {
        return Ok((ScriptFlags::default(), std::borrow::Cow::Borrowed(body)));
    }
    let end = body.iter().position(|&c| c == b'\n').unwrap_or(body.len());
    let line = String::from_utf8_lossy(body.get(2..end).unwrap_or_default()).into_owned();
    let mut parts = line.split(' ').filter(|p| !p.is_empty());
    let engine = parts.next().unwrap_or("");
    if engine != "lua" {
        let first = String::from_utf8_lossy(body.get(..end).unwrap_or_default()).into_owned();
        let first = first.split(' ').next().unwrap_or("").to_owned();
        return Err(CmdError::err(format!(
            "Unexpected engine in script shebang: {first}"
        )));
    }
    let mut flags = ScriptFlags {
        shebang: true,
        no_writes: false,
    };
    for p in parts {
        let Some(list) = p.strip_prefix("flags=") else {
            return Err(CmdError::err(format!("Unknown lua shebang option: {p}")));
        };
        for f in list.split(',').filter(|f| !f.is_empty()) {
            match f {
                "no-writes" => flags.no_writes = true,
                "allow-oom" | "allow-stale" | "no-cluster" | "allow-cross-slot-keys" => {}
                other => {
                    return Err(CmdError::err(format!(
                        "Unexpected flag in script shebang: {other}"
                    )))
                }
            }
        }
    }
    if end == body.len() {
        return Err(CmdError::err("Invalid script shebang"));
    }
    let code = body.get(end..).unwrap_or_default().to_vec();
    Ok((flags, std::borrow::Cow::Owned(code)))
}

#[cfg(test)]
mod tests;
