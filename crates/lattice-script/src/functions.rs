//! The function registry (Redis 7.0's `FUNCTION` libraries): loading a
//! library's code (`#!lua name=<lib>` and `redis.register_function` calls),
//! replacing, deleting and flushing libraries, FUNCTION LIST/STATS replies,
//! and FUNCTION DUMP/RESTORE payloads in Redis's own format.
//!
//! Libraries are replicated state: the server changes them only by applying
//! log commands, and snapshots carry every library's code.

use std::collections::BTreeMap;

use bytes::Bytes;
use lattice_engine::{glob, CmdError, Reply};
use mlua::{Function, RegistryKey, Value};

use crate::Scripting;

/// One registered function.
#[derive(Debug)]
pub struct FunctionDef {
    /// Its name.
    pub name: String,
    /// The library that registered it.
    pub library: String,
    /// The Lua callback.
    pub callback: RegistryKey,
    /// `no-writes` was among its flags.
    pub no_writes: bool,
    /// Its flags as given (FUNCTION LIST).
    pub flags: Vec<String>,
    /// Its description, if any.
    pub description: Option<String>,
}

/// One library.
#[derive(Debug)]
pub struct Library {
    /// The whole code, shebang included (FUNCTION LIST WITHCODE, DUMP).
    pub code: Bytes,
    /// Names of its functions, in registration order.
    pub functions: Vec<String>,
}

/// Every library and function.
#[derive(Debug, Default)]
pub struct Registry {
    libraries: BTreeMap<String, Library>,
    functions: BTreeMap<String, FunctionDef>,
}

impl Registry {
    /// A function by name.
    pub fn function(&self, name: &[u8]) -> Option<&FunctionDef> {
        // Function names are case-insensitive, as Redis's.
        self.functions
            .get(&std::str::from_utf8(name).ok()?.to_ascii_lowercase())
    }

    /// Every library's code, by name (snapshots, FUNCTION DUMP).
    pub fn codes(&self) -> Vec<Bytes> {
        self.libraries.values().map(|l| l.code.clone()).collect()
    }

    /// Number of libraries and functions.
    pub fn counts(&self) -> (usize, usize) {
        (self.libraries.len(), self.functions.len())
    }
}

/// What the library's shebang line says.
fn parse_metadata(code: &[u8]) -> Result<String, CmdError> {
    if !code.starts_with(b"#!") {
        return Err(CmdError::err("Missing library metadata"));
    }
    let Some(end) = code.iter().position(|&c| c == b'\n') else {
        return Err(CmdError::err("Invalid library metadata"));
    };
    let line = String::from_utf8_lossy(code.get(2..end).unwrap_or_default()).into_owned();
    let mut parts = line.split(' ').filter(|p| !p.is_empty());
    let engine = parts.next().unwrap_or("");
    if !engine.eq_ignore_ascii_case("lua") {
        return Err(CmdError::err(format!("Engine '{engine}' not found")));
    }
    let mut name = None;
    for p in parts {
        match p.split_once('=') {
            Some(("name", _)) if name.is_some() => {
                return Err(CmdError::err(
                    "Invalid metadata value, name argument was given multiple times",
                ))
            }
            Some(("name", v)) => name = Some(v.to_owned()),
            _ => return Err(CmdError::err(format!("Invalid metadata value given: {p}"))),
        }
    }
    let name = name.ok_or_else(|| CmdError::err("Library name was not given"))?;
    if !valid_name(&name) {
        return Err(CmdError::err(
            "Library names can only contain letters, numbers, or underscores(_) and must be at least one character long",
        ));
    }
    Ok(name)
}

fn valid_name(n: &str) -> bool {
    !n.is_empty() && n.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// FUNCTION LOAD: runs the library code with `redis.register_function`
/// available, then installs it (replacing the old one when `replace`).
pub fn load(s: &mut Scripting, code: &Bytes, replace: bool) -> Result<String, CmdError> {
    let name = parse_metadata(code)?;
    if !replace && s.functions.libraries.contains_key(&name) {
        return Err(CmdError::err(format!("Library '{name}' already exists")));
    }
    let defs = run_library(s, code, &name)?;
    // Names may not clash with another library's functions.
    for d in &defs {
        if let Some(f) = s.functions.functions.get(&d.name.to_ascii_lowercase()) {
            if f.library != name {
                return Err(CmdError::err(format!("Function {} already exists", d.name)));
            }
        }
    }
    remove_library(s, &name);
    let lib = Library {
        code: code.clone(),
        functions: defs.iter().map(|d| d.name.clone()).collect(),
    };
    for d in defs {
        s.functions.functions.insert(d.name.to_ascii_lowercase(), d);
    }
    s.functions.libraries.insert(name.clone(), lib);
    Ok(name)
}

fn remove_library(s: &mut Scripting, name: &str) -> bool {
    let Some(lib) = s.functions.libraries.remove(name) else {
        return false;
    };
    for f in lib.functions {
        if let Some(d) = s.functions.functions.remove(&f.to_ascii_lowercase()) {
            let _ = s.lua().remove_registry_value(d.callback);
        }
    }
    true
}

/// Compiles and runs a library's code in load mode, collecting the
/// functions it registers.
fn run_library(s: &mut Scripting, code: &Bytes, lib: &str) -> Result<Vec<FunctionDef>, CmdError> {
    let end = code.iter().position(|&c| c == b'\n').unwrap_or(code.len());
    let body = code.get(end..).unwrap_or_default();
    let env = s.env()?;
    let chunk = s
        .lua()
        .load(body)
        .set_name("@user_function")
        .set_environment(env)
        .into_function()
        .map_err(|e| {
            CmdError::err(format!(
                "Error compiling function: {}",
                crate::error_text(&e)
            ))
        })?;
    let mut defs: Vec<FunctionDef> = Vec::new();
    let hidden = s.hidden().clone();
    let load_redis = s.load_redis().clone();
    let handler = s.handler().clone();
    let lua = s.lua().clone();
    let control = s.control();
    control.begin(false);
    let result = lua.scope(|scope| {
        let register = scope.create_function_mut(|lua, args: mlua::MultiValue| {
            match register(lua, lib, args, &defs) {
                Ok(d) => {
                    defs.push(d);
                    Ok((true, Value::Nil))
                }
                Err(e) => Ok((false, crate::convert::error_table(lua, &e.wire_text())?)),
            }
        })?;
        let wrapper: Function = lua
            .load(
                "local reg = ... return function(...) local ok, e = reg(...) if not ok then error(e) end end",
            )
            .set_name("=lattice")
            .call(register)?;
        load_redis.raw_set("register_function", wrapper)?;
        hidden.raw_set("loading", true)?;
        let runner: Function = hidden.raw_get("run")?;
        let out: (bool, Value) = runner.call((chunk, handler))?;
        hidden.raw_set("loading", Value::Nil)?;
        load_redis.raw_set("register_function", Value::Nil)?;
        Ok(out)
    });
    control.finish();
    let _ = hidden.raw_set("loading", Value::Nil);
    match result {
        Ok((true, _)) => {}
        Ok((false, Value::Table(t))) => {
            let msg: String = t.raw_get("err").unwrap_or_default();
            return Err(CmdError::err(format!("Error registering functions: {msg}")));
        }
        Ok((false, _)) => return Err(CmdError::err("Error registering functions")),
        Err(e) => {
            return Err(CmdError::err(format!(
                "Error registering functions: {}",
                crate::error_text(&e)
            )))
        }
    }
    if defs.is_empty() {
        return Err(CmdError::err("No functions registered"));
    }
    Ok(defs)
}

/// One `redis.register_function` call: `(name, callback)` or
/// `{function_name=, callback=, flags=, description=}`.
fn register(
    lua: &mlua::Lua,
    lib: &str,
    args: mlua::MultiValue,
    so_far: &[FunctionDef],
) -> Result<FunctionDef, CmdError> {
    let v: Vec<Value> = args.into_iter().collect();
    let (name, callback, flag_list, description) = match v.as_slice() {
        [Value::String(n), Value::Function(f)] => {
            (n.to_string_lossy(), f.clone(), Vec::new(), None)
        }
        [_, _] => {
            return Err(CmdError::err(
                "second argument to redis.register_function must be a function",
            ))
        }
        [v] if !matches!(v, Value::Table(_)) => {
            return Err(CmdError::err(
                "calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).",
            ))
        }
        [Value::Table(t)] => {
            let mut name = None;
            let mut callback = None;
            let mut flags = Vec::new();
            let mut description = None;
            for (k, v) in t.clone().pairs::<String, Value>().flatten() {
                match (k.as_str(), v) {
                    ("function_name", Value::String(s)) => name = Some(s.to_string_lossy()),
                    ("callback", Value::Function(f)) => callback = Some(f),
                    ("description", Value::String(s)) => description = Some(s.to_string_lossy()),
                    ("flags", Value::Table(ft)) => {
                        for f in ft.sequence_values::<String>() {
                            flags.push(f.map_err(|_| CmdError::err("unknown flag given"))?);
                        }
                    }
                    ("flags", _) => {
                        return Err(CmdError::err(
                            "flags argument to redis.register_function must be a table representing function flags",
                        ))
                    }
                    // Redis 7.0 ignores a description that is not a string.
                    ("description", _) => {}
                    ("function_name" | "callback", _) => {
                        return Err(CmdError::err(format!(
                            "{k} argument given to redis.register_function must be valid"
                        )))
                    }
                    (_, _) => {
                        return Err(CmdError::err(
                            "unknown argument given to redis.register_function",
                        ))
                    }
                }
            }
            let name = name.ok_or_else(|| {
                CmdError::err("redis.register_function must get a function name argument")
            })?;
            let callback = callback.ok_or_else(|| {
                CmdError::err("redis.register_function must get a callback argument")
            })?;
            (name, callback, flags, description)
        }
        _ => {
            return Err(CmdError::err(
                "wrong number of arguments to redis.register_function",
            ))
        }
    };
    // Redis 7.0 words a bad function name as a bad library name.
    if !valid_name(&name) {
        return Err(CmdError::err(
            "Library names can only contain letters, numbers, or underscores(_) and must be at least one character long",
        ));
    }
    if so_far.iter().any(|d| d.name.eq_ignore_ascii_case(&name)) {
        return Err(CmdError::err("Function already exists in the library"));
    }
    let mut no_writes = false;
    for f in &flag_list {
        match f.as_str() {
            "no-writes" => no_writes = true,
            "allow-oom" | "allow-stale" | "no-cluster" | "allow-cross-slot-keys" => {}
            _ => return Err(CmdError::err("unknown flag given")),
        }
    }
    let callback = lua
        .create_registry_value(callback)
        .map_err(|e| CmdError::err(e.to_string()))?;
    Ok(FunctionDef {
        name,
        library: lib.to_owned(),
        callback,
        no_writes,
        flags: flag_list,
        description,
    })
}

/// The write subcommands of FUNCTION (LOAD, DELETE, FLUSH, RESTORE), as the
/// state machine applies them. `args` starts at the subcommand.
pub fn apply(s: &mut Scripting, args: &[Bytes]) -> Reply {
    let sub = args
        .first()
        .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
        .unwrap_or_default();
    let r = match sub.as_str() {
        "load" => apply_load(s, args.get(1..).unwrap_or_default()),
        "delete" => match args.get(1) {
            Some(n) if args.len() == 2 => {
                if remove_library(s, &String::from_utf8_lossy(n)) {
                    Ok(Reply::Ok)
                } else {
                    Err(CmdError::err("Library not found"))
                }
            }
            _ => Err(CmdError::Arity("function|delete".into())),
        },
        "flush" if args.len() > 2 => Err(CmdError::err(
            "unknown subcommand or wrong number of arguments for 'FLUSH'. Try FUNCTION HELP.",
        )),
        "flush" => match args.get(1).map(|a| a.to_ascii_lowercase()) {
            None => flush(s),
            Some(m) if m == b"async" || m == b"sync" => flush(s),
            Some(_) => Err(CmdError::err(
                "FUNCTION FLUSH only supports SYNC|ASYNC option",
            )),
        },
        "restore" => apply_restore(s, args.get(1..).unwrap_or_default()),
        _ => Err(CmdError::err(format!(
            "unknown FUNCTION subcommand '{sub}'"
        ))),
    };
    r.unwrap_or_else(Reply::Error)
}

fn flush(s: &mut Scripting) -> Result<Reply, CmdError> {
    let names: Vec<String> = s.functions.libraries.keys().cloned().collect();
    for n in names {
        remove_library(s, &n);
    }
    Ok(Reply::Ok)
}

fn apply_load(s: &mut Scripting, args: &[Bytes]) -> Result<Reply, CmdError> {
    let Some((code, opts)) = args.split_last() else {
        return Err(CmdError::Arity("function|load".into()));
    };
    // REPLACE may be repeated, as Redis accepts it.
    if let Some(bad) = opts.iter().find(|o| !o.eq_ignore_ascii_case(b"replace")) {
        return Err(CmdError::err(format!(
            "Unknown option given: {}",
            String::from_utf8_lossy(bad)
        )));
    }
    let replace = !opts.is_empty();
    let name = load(s, code, replace)?;
    Ok(Reply::Bulk(Bytes::from(name)))
}

fn apply_restore(s: &mut Scripting, args: &[Bytes]) -> Result<Reply, CmdError> {
    let (payload, policy) =
        match args {
            [p] => (p, "append".to_owned()),
            [p, pol] => (p, String::from_utf8_lossy(pol).to_ascii_lowercase()),
            _ => return Err(CmdError::err(
                "unknown subcommand or wrong number of arguments for 'RESTORE'. Try FUNCTION HELP.",
            )),
        };
    if !matches!(policy.as_str(), "append" | "replace" | "flush") {
        return Err(CmdError::err(
            "Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
        ));
    }
    let codes = lattice_engine::cmd::dump::parse_function_payload(payload)
        .ok_or_else(|| CmdError::err("DUMP payload version or checksum are wrong"))?;
    // Check every library before changing anything (all or nothing).
    let mut names = Vec::new();
    for c in &codes {
        let n = parse_metadata(c)?;
        if policy == "append" && s.functions.libraries.contains_key(&n) {
            return Err(CmdError::err(format!("Library {n} already exists")));
        }
        names.push(n);
    }
    let saved: Vec<Bytes> = s.functions.codes();
    if policy == "flush" {
        flush(s)?;
    }
    for c in &codes {
        if let Err(e) = load(s, &Bytes::from(c.clone()), policy != "append") {
            // Put the previous libraries back.
            let _ = flush(s);
            for old in &saved {
                let _ = load(s, old, true);
            }
            return Err(e);
        }
    }
    Ok(Reply::Ok)
}

/// The read subcommands: LIST, DUMP, STATS (KILL and HELP are the
/// server's). `args` starts at the subcommand.
pub fn read(s: &Scripting, args: &[Bytes]) -> Reply {
    let sub = args
        .first()
        .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
        .unwrap_or_default();
    match sub.as_str() {
        "list" => list(s, args.get(1..).unwrap_or_default()).unwrap_or_else(Reply::Error),
        "dump" => Reply::Bulk(Bytes::from(
            lattice_engine::cmd::dump::function_dump_payload(&s.functions.codes()),
        )),
        "stats" => {
            let (libs, funcs) = s.functions.counts();
            let running = match s.control().running_for() {
                None => Reply::NilArray,
                Some(d) => Reply::Map(vec![
                    (Reply::bulk(b"name"), Reply::bulk(b"")),
                    (Reply::bulk(b"command"), Reply::Array(Vec::new())),
                    (
                        Reply::bulk(b"duration_ms"),
                        Reply::Int(d.as_millis() as i64),
                    ),
                ]),
            };
            Reply::Map(vec![
                (Reply::bulk(b"running_script"), running),
                (
                    Reply::bulk(b"engines"),
                    Reply::Map(vec![(
                        Reply::bulk(b"LUA"),
                        Reply::Map(vec![
                            (Reply::bulk(b"libraries_count"), Reply::Int(libs as i64)),
                            (Reply::bulk(b"functions_count"), Reply::Int(funcs as i64)),
                        ]),
                    )]),
                ),
            ])
        }
        _ => Reply::Error(CmdError::err(format!(
            "unknown FUNCTION subcommand '{sub}'"
        ))),
    }
}

fn list(s: &Scripting, args: &[Bytes]) -> Result<Reply, CmdError> {
    let mut with_code = false;
    let mut pattern: Option<&Bytes> = None;
    let mut i = 0;
    while let Some(a) = args.get(i) {
        if a.eq_ignore_ascii_case(b"withcode") && !with_code {
            with_code = true;
        } else if a.eq_ignore_ascii_case(b"libraryname") && pattern.is_none() {
            i += 1;
            pattern = Some(
                args.get(i)
                    .ok_or_else(|| CmdError::err("library name argument was not given"))?,
            );
        } else {
            return Err(CmdError::err(format!(
                "Unknown argument {}",
                String::from_utf8_lossy(a)
            )));
        }
        i += 1;
    }
    let mut out = Vec::new();
    for (name, lib) in &s.functions.libraries {
        if let Some(p) = pattern {
            if !glob::glob_match(p, name.as_bytes()) {
                continue;
            }
        }
        let mut funcs = Vec::new();
        for f in &lib.functions {
            let Some(d) = s.functions.functions.get(&f.to_ascii_lowercase()) else {
                continue;
            };
            funcs.push(Reply::Map(vec![
                (Reply::bulk(b"name"), Reply::bulk_str(&d.name)),
                (
                    Reply::bulk(b"description"),
                    d.description.as_deref().map_or(Reply::Nil, Reply::bulk_str),
                ),
                (
                    Reply::bulk(b"flags"),
                    Reply::Set(d.flags.iter().map(|f| Reply::Status(f.clone())).collect()),
                ),
            ]));
        }
        let mut m = vec![
            (Reply::bulk(b"library_name"), Reply::bulk_str(name)),
            (Reply::bulk(b"engine"), Reply::bulk(b"LUA")),
            (Reply::bulk(b"functions"), Reply::Array(funcs)),
        ];
        if with_code {
            m.push((Reply::bulk(b"library_code"), Reply::Bulk(lib.code.clone())));
        }
        out.push(Reply::Map(m));
    }
    Ok(Reply::Array(out))
}

/// Loads libraries from a snapshot (replacing whatever is loaded).
pub fn restore_codes(s: &mut Scripting, codes: &[Bytes]) -> Result<(), CmdError> {
    let _ = flush(s);
    for c in codes {
        load(s, c, true)?;
    }
    Ok(())
}
