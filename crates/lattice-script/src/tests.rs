//! Scripts against a real engine: reply conversion, Redis's error texts,
//! the sandbox, read-only scripts, determinism and functions.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use super::*;
use lattice_engine::{Engine, EngineConfig, WriteOp};

/// The engine as a script host: reads and writes at the script's time.
struct EngineHost {
    engine: Engine,
    time_ms: u64,
    calls: usize,
}

impl Host for EngineHost {
    fn call(&mut self, db: usize, spec: &'static CommandSpec, args: Vec<Bytes>) -> Reply {
        self.calls += 1;
        if spec.is_write() {
            let op = WriteOp::Command {
                db,
                args,
                time_ms: self.time_ms,
                seed: self.calls as u64,
            };
            self.engine.apply(&op, false).reply
        } else {
            self.engine
                .read(spec, db, &args, self.time_ms, self.calls as u64)
                .reply
        }
    }
    fn db_count(&self) -> usize {
        self.engine.db_count()
    }
}

fn host() -> EngineHost {
    EngineHost {
        engine: Engine::new(EngineConfig::default()),
        time_ms: 1_700_000_000_123,
        calls: 0,
    }
}

fn ctx() -> RunCtx {
    RunCtx {
        db: 0,
        time_ms: 1_700_000_000_123,
        seed: 42,
        resp3: false,
        read_only: false,
    }
}

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

fn eval(s: &mut Scripting, h: &mut EngineHost, body: &str, rest: &[&str]) -> Reply {
    let mut argv = vec![b(body)];
    argv.extend(rest.iter().map(|a| b(a)));
    s.eval(&argv, ctx(), h)
}

fn err(r: &Reply) -> String {
    match r {
        Reply::Error(e) => e.wire_text(),
        other => panic!("not an error: {other:?}"),
    }
}

#[test]
fn keys_args_and_calls() {
    let mut s = Scripting::new().unwrap();
    let mut h = host();
    assert_eq!(
        eval(
            &mut s,
            &mut h,
            "return redis.call('set', KEYS[1], ARGV[1])",
            &["1", "k", "v"]
        ),
        Reply::Status("OK".into())
    );
    assert_eq!(
        eval(
            &mut s,
            &mut h,
            "return redis.call('get', KEYS[1])",
            &["1", "k"]
        ),
        Reply::bulk(b"v")
    );
    assert_eq!(
        eval(
            &mut s,
            &mut h,
            "return redis.call('incrby', 'n', 5) + 1",
            &["0"]
        ),
        Reply::Int(6)
    );
    // A key not declared in KEYS works (Lattice is one group).
    assert_eq!(
        eval(&mut s, &mut h, "redis.call('rpush', 'undeclared', 'a', 'b') return redis.call('lrange', 'undeclared', 0, -1)", &["0"]),
        Reply::Array(vec![Reply::bulk(b"a"), Reply::bulk(b"b")])
    );
    assert_eq!(
        eval(&mut s, &mut h, "return #ARGV", &["0", "a", "b"]),
        Reply::Int(2)
    );
    assert_eq!(
        eval(&mut s, &mut h, "return redis.call('get', 'nokey')", &["0"]),
        Reply::Nil
    );
    assert_eq!(
        eval(&mut s, &mut h, "return redis.call('time')[1]", &["0"]),
        Reply::bulk(b"1700000000")
    );
}

#[test]
fn error_texts_match_redis() {
    let mut s = Scripting::new().unwrap();
    let mut h = host();
    let sha = sha1_hex(b"return a");
    assert_eq!(
        err(&eval(&mut s, &mut h, "return a", &["0"])),
        format!("ERR user_script:1: Script attempted to access nonexistent global variable 'a' script: {sha}, on @user_script:1.")
    );
    let body = "return redis.call('nosuch')";
    assert_eq!(
        err(&eval(&mut s, &mut h, body, &["0"])),
        format!(
            "ERR Unknown Redis command called from script script: {}, on @user_script:1.",
            sha1_hex(body.as_bytes())
        )
    );
    let body = "a=1";
    assert_eq!(
        err(&eval(&mut s, &mut h, body, &["0"])),
        format!(
            "ERR user_script:1: Attempt to modify a readonly table script: {}, on @user_script:1.",
            sha1_hex(body.as_bytes())
        )
    );
    let body = "rawset(_G,'x',1)";
    assert_eq!(
        err(&eval(&mut s, &mut h, body, &["0"])),
        format!(
            "ERR Attempt to modify a readonly table script: {}, on @user_script:1.",
            sha1_hex(body.as_bytes())
        )
    );
    let body = "\n\nerror({err='X boom'})";
    assert_eq!(
        err(&eval(&mut s, &mut h, body, &["0"])),
        format!(
            "X boom script: {}, on @user_script:3.",
            sha1_hex(body.as_bytes())
        )
    );
    assert_eq!(
        err(&eval(&mut s, &mut h, "syntax error here", &["0"])),
        "ERR Error compiling script (new function): user_script:1: '=' expected near 'error'"
    );
    h.engine
        .call(0, vec![b("set"), b("s"), b("x")], 1, 1, false);
    let body = "return redis.call('lpush','s','a')";
    assert_eq!(
        err(&eval(&mut s, &mut h, body, &["0"])),
        format!("WRONGTYPE Operation against a key holding the wrong kind of value script: {}, on @user_script:1.", sha1_hex(body.as_bytes()))
    );
    assert_eq!(
        err(&eval(
            &mut s,
            &mut h,
            "return redis.pcall('lpush','s','a')",
            &["0"]
        )),
        "WRONGTYPE Operation against a key holding the wrong kind of value"
    );
    assert_eq!(
        err(&eval(
            &mut s,
            &mut h,
            "return redis.error_reply('My Error')",
            &["0"]
        )),
        "My Error"
    );
    assert_eq!(
        eval(&mut s, &mut h, "return redis.status_reply('FINE')", &["0"]),
        Reply::Status("FINE".into())
    );
    for (body, text) in [
        (
            "return redis.call('blpop','l',0)",
            "ERR This Redis command is not allowed from script",
        ),
        (
            "return redis.call('subscribe','x')",
            "ERR This Redis command is not allowed from script",
        ),
        (
            "return redis.call()",
            "ERR Please specify at least one argument for this redis lib call",
        ),
        (
            "return redis.call('get', {})",
            "ERR Lua redis lib command arguments must be strings or integers",
        ),
        (
            "return redis.call('get','s','x')",
            "ERR Wrong number of args calling Redis command from script",
        ),
        (
            "return redis.setresp(4)",
            "ERR RESP version must be 2 or 3.",
        ),
    ] {
        assert_eq!(
            err(&eval(&mut s, &mut h, body, &["0"])),
            format!(
                "{text} script: {}, on @user_script:1.",
                sha1_hex(body.as_bytes())
            ),
            "{body}"
        );
    }
    assert_eq!(
        err(&eval(&mut s, &mut h, "return 1", &["-1"])),
        "ERR Number of keys can't be negative"
    );
    assert_eq!(
        err(&eval(&mut s, &mut h, "return 1", &["2", "a"])),
        "ERR Number of keys can't be greater than number of args"
    );
}

#[test]
fn sandbox_hides_what_redis_hides() {
    let mut s = Scripting::new().unwrap();
    let mut h = host();
    for g in [
        "os", "io", "debug", "setfenv", "getfenv", "require", "dofile", "print", "newproxy",
        "module", "package",
    ] {
        let r = eval(&mut s, &mut h, &format!("return type({g})"), &["0"]);
        assert!(
            err(&r).contains("nonexistent global variable"),
            "{g}: {r:?}"
        );
    }
    for g in [
        "rawset",
        "coroutine",
        "load",
        "loadstring",
        "unpack",
        "gcinfo",
        "cjson",
        "bit",
        "struct",
        "cmsgpack",
    ] {
        let r = eval(&mut s, &mut h, &format!("return type({g})"), &["0"]);
        assert!(matches!(r, Reply::Bulk(_)), "{g}: {r:?}");
    }
    assert_eq!(
        eval(&mut s, &mut h, "return _VERSION", &["0"]),
        Reply::bulk(b"Lua 5.1")
    );
    // Library tables are read-only and changes never leak into the next run.
    assert!(err(&eval(&mut s, &mut h, "string.foo = 1", &["0"])).contains("readonly"));
    assert!(err(&eval(&mut s, &mut h, "redis.call = nil", &["0"])).contains("readonly"));
    assert!(err(&eval(&mut s, &mut h, "setmetatable(_G, nil)", &["0"])).contains("readonly"));
    assert!(err(&eval(&mut s, &mut h, "loadstring('x = 1')()", &["0"])).contains("readonly"));
    assert_eq!(
        eval(&mut s, &mut h, "local t = {} t.x = 1 return t.x", &["0"]),
        Reply::Int(1)
    );
    assert_eq!(
        eval(&mut s, &mut h, "return redis.sha1hex('')", &["0"]),
        Reply::bulk(b"da39a3ee5e6b4b0d3255bfef95601890afd80709")
    );
    assert_eq!(
        eval(&mut s, &mut h, "return redis.REDIS_VERSION", &["0"]),
        Reply::bulk(b"7.0.15")
    );
}

#[test]
fn read_only_scripts_refuse_writes() {
    let mut s = Scripting::new().unwrap();
    let mut h = host();
    let mut c = ctx();
    c.read_only = true;
    let body = "return redis.call('set','a','b')";
    let r = s.eval(&[b(body), b("0")], c, &mut h);
    assert_eq!(
        err(&r),
        format!("ERR Write commands are not allowed from read-only scripts. script: {}, on @user_script:1.", sha1_hex(body.as_bytes()))
    );
    let body = "#!lua flags=no-writes\nreturn redis.call('set','a','b')";
    let r = s.eval(&[b(body), b("0")], ctx(), &mut h);
    assert!(err(&r).contains("Write commands are not allowed"), "{r:?}");
    assert!(
        err(&s.eval(&[b("#!lua flags=bogus\nreturn 1"), b("0")], ctx(), &mut h))
            .contains("Unexpected flag")
    );
    assert_eq!(
        Scripting::flags_of(b"#!lua flags=no-writes\nreturn 1").unwrap(),
        ScriptFlags {
            shebang: true,
            no_writes: true
        }
    );
}

#[test]
fn random_is_deterministic_per_seed() {
    let mut s = Scripting::new().unwrap();
    let mut h = host();
    let body = "return {math.random(100), math.random(1000), tostring(math.random())}";
    let a = eval(&mut s, &mut h, body, &["0"]);
    let b2 = eval(&mut s, &mut h, body, &["0"]);
    assert_eq!(a, b2, "same seed, same numbers");
    let mut c = ctx();
    c.seed = 7;
    let other = s.eval(&[b(body), b("0")], c, &mut h);
    assert_ne!(a, other);
}

#[test]
fn resp3_conversions() {
    let mut s = Scripting::new().unwrap();
    let mut h = host();
    h.engine
        .call(0, vec![b("hset"), b("h"), b("a"), b("1")], 1, 1, false);
    assert_eq!(
        eval(
            &mut s,
            &mut h,
            "redis.setresp(3) return type(redis.call('hgetall','h').map)",
            &["0"]
        ),
        Reply::bulk(b"table")
    );
    assert_eq!(
        eval(
            &mut s,
            &mut h,
            "return type(redis.call('hgetall','h').map)",
            &["0"]
        ),
        Reply::bulk(b"nil"),
        "setresp lasts one run"
    );
    let mut c = ctx();
    c.resp3 = true;
    assert_eq!(
        s.eval(
            &[
                b("redis.setresp(3) return redis.call('hgetall','h')"),
                b("0")
            ],
            c,
            &mut h
        ),
        Reply::Map(vec![(Reply::bulk(b"a"), Reply::bulk(b"1"))])
    );
}

#[test]
fn script_cache() {
    let mut s = Scripting::new().unwrap();
    let sha = s.load(&b("return 1")).unwrap();
    assert_eq!(sha, "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
    assert!(s.exists(&sha.to_uppercase()));
    assert_eq!(s.body(&sha), Some(b("return 1")));
    s.flush();
    assert!(!s.exists(&sha));
    assert!(s.load(&b("return +")).is_err());
}

#[test]
fn kill_stops_a_script_that_has_not_written() {
    let mut s = Scripting::new().unwrap();
    let control = s.control();
    control.set_threshold_ms(1);
    control.set_auto_kill(true);
    let mut h = host();
    let r = eval(
        &mut s,
        &mut h,
        "local i = 0 while true do i = i + 1 end",
        &["0"],
    );
    assert!(
        err(&r).starts_with("ERR Script killed by user with SCRIPT KILL..."),
        "{r:?}"
    );
    // pcall cannot swallow the kill.
    let r = eval(
        &mut s,
        &mut h,
        "while true do pcall(function() while true do end end) end",
        &["0"],
    );
    assert!(err(&r).contains("Script killed"), "{r:?}");
    assert_eq!(control.running_for(), None);
    assert_eq!(control.request_kill(false), KillOutcome::NotBusy);
}

#[test]
fn functions_load_call_list_dump_restore() {
    let mut s = Scripting::new().unwrap();
    let mut h = host();
    let code = b("#!lua name=mylib\nredis.register_function('myfunc', function(keys, args) return args[1] end)\nredis.register_function{function_name='ro', callback=function(keys, args) return redis.call('get', keys[1]) end, flags={'no-writes'}, description='d'}");
    assert_eq!(
        functions::apply(&mut s, &[b("load"), code.clone()]),
        Reply::bulk(b"mylib")
    );
    assert_eq!(
        s.fcall(&[b("myfunc"), b("0"), b("hello")], false, ctx(), &mut h),
        Reply::bulk(b"hello")
    );
    assert_eq!(
        err(&s.fcall(&[b("myfunc"), b("0")], true, ctx(), &mut h)),
        "ERR Can not execute a script with write flag using *_ro command."
    );
    assert_eq!(
        s.fcall(&[b("ro"), b("1"), b("nokey")], true, ctx(), &mut h),
        Reply::Nil
    );
    assert_eq!(
        err(&s.fcall(&[b("nosuch"), b("0")], false, ctx(), &mut h)),
        "ERR Function not found"
    );
    assert_eq!(
        err(&functions::apply(&mut s, &[b("load"), code.clone()])),
        "ERR Library 'mylib' already exists"
    );
    assert_eq!(
        err(&functions::apply(&mut s, &[b("load"), b("return 1")])),
        "ERR Missing library metadata"
    );
    assert_eq!(
        err(&functions::apply(&mut s, &[b("load"), b("#!lua name=bad\nredis.call('set','a','b')")])),
        "ERR Error registering functions: user_function:2: Script attempted to access nonexistent global variable 'call'"
            .replace("Error registering functions: ", "Error registering functions: ERR ")
    );
    assert_eq!(
        err(&functions::apply(
            &mut s,
            &[
                b("load"),
                b("#!lua name=x2\nredis.register_function('myfunc', function() end)")
            ]
        )),
        "ERR Function myfunc already exists"
    );
    let dump = functions::read(&s, &[b("dump")]);
    let Reply::Bulk(payload) = dump else { panic!() };
    assert_eq!(functions::apply(&mut s, &[b("flush")]), Reply::Ok);
    assert_eq!(
        err(&s.fcall(&[b("myfunc"), b("0")], false, ctx(), &mut h)),
        "ERR Function not found"
    );
    assert_eq!(
        functions::apply(&mut s, &[b("restore"), payload.clone()]),
        Reply::Ok
    );
    assert_eq!(
        s.fcall(&[b("myfunc"), b("0"), b("again")], false, ctx(), &mut h),
        Reply::bulk(b"again")
    );
    assert!(err(&functions::apply(&mut s, &[b("restore"), payload])).contains("already exists"));
    let Reply::Array(libs) = functions::read(&s, &[b("list")]) else {
        panic!()
    };
    assert_eq!(libs.len(), 1);
    assert_eq!(
        functions::apply(&mut s, &[b("delete"), b("mylib")]),
        Reply::Ok
    );
    assert_eq!(
        err(&functions::apply(&mut s, &[b("delete"), b("mylib")])),
        "ERR Library not found"
    );
}

#[test]
fn hostile_bodies_fail_cleanly() {
    let mut s = Scripting::new().unwrap();
    let mut h = host();
    // Deep recursion is a Lua error, not a crash.
    let r = eval(
        &mut s,
        &mut h,
        "local function f(n) return f(n + 1) + 1 end return f(1)",
        &["0"],
    );
    assert!(err(&r).contains("stack overflow"), "{r:?}");
    // The VM's memory is capped: a huge allocation is a script error.
    let r = eval(&mut s, &mut h, "return string.rep('x', 1500000000)", &["0"]);
    match &r {
        Reply::Error(e) => assert!(e.wire_text().contains("memory"), "{}", e.wire_text()),
        _ => panic!("a huge string.rep succeeded"),
    }
    // … and the VM still works after it.
    assert_eq!(eval(&mut s, &mut h, "return 1", &["0"]), Reply::Int(1));
    let r = s.eval(&[b("return 1"), b("notanumber")], ctx(), &mut h);
    assert_eq!(err(&r), "ERR value is not an integer or out of range");
    assert!(
        err(&s.eval(&[Bytes::from_static(b"\0\xff"), b("0")], ctx(), &mut h))
            .starts_with("ERR Error compiling script")
    );
}
