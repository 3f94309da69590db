//! Scripting on the real binary: scripts are log commands (they survive
//! kill -9 and replay to the same state, random numbers included), function
//! libraries persist through the log and snapshots, the script cache does
//! not (as in Redis), blocked clients are served after a script, script
//! writes notify, dirty WATCH and invalidate like plain writes, and a busy
//! script gives -BUSY, SCRIPT KILL and SHUTDOWN NOSAVE their Redis
//! behaviour (including a restart after SHUTDOWN NOSAVE of a script that
//! never ends).

use std::time::Duration;

use lattice_testkit::{wait_until, Frame, RawClient, TestServer};

use crate::{int, start, text};

fn err(f: &Frame) -> String {
    match f {
        Frame::Error(e) => e.clone(),
        other => panic!("not an error: {other:?}"),
    }
}

fn crash_restart(mut s: TestServer) -> TestServer {
    s.kill9();
    s.restart(&[]).expect("restart after kill -9")
}

const LOOP: &str = "local i = 0 while true do i = i + 1 end";

#[test]
fn script_writes_and_their_random_numbers_survive_kill9() {
    let s = start(&[]);
    let mut c = s.raw();
    let body = "local n = math.random(1000000000) redis.call('set', KEYS[1], n) \
                redis.call('rpush', 'undeclared', n) return n";
    let first = int(&c.cmd(&["EVAL", body, "1", "r"]));
    let second = int(&c.cmd(&["EVAL", body, "1", "r"]));
    // Each entry seeds its own run.
    assert_ne!(first, second);
    let sha = text(&c.cmd(&["SCRIPT", "LOAD", "return redis.call('get', KEYS[1])"]));
    assert_eq!(
        text(&c.cmd(&["EVALSHA", &sha, "1", "r"])),
        second.to_string()
    );
    let s = crash_restart(s);
    let mut c = s.raw();
    // Replay ran the same scripts with the same seeds.
    assert_eq!(text(&c.cmd(&["GET", "r"])), second.to_string());
    assert_eq!(
        c.cmd(&["LRANGE", "undeclared", "0", "-1"]),
        Frame::Array(vec![
            Frame::Bulk(first.to_string().into()),
            Frame::Bulk(second.to_string().into())
        ])
    );
    // The script cache is not persisted (Redis forgets it too), but
    // replaying a script's entry caches it again.
    assert_eq!(
        text(&c.cmd(&["EVALSHA", &sha, "1", "r"])),
        second.to_string()
    );
    let unused = text(&c.cmd(&["SCRIPT", "LOAD", "return 'never run'"]));
    let s = crash_restart(s);
    let mut c = s.raw();
    assert_eq!(
        err(&c.cmd(&["EVALSHA", &unused, "0"])),
        "NOSCRIPT No matching script. Please use EVAL."
    );
}

#[test]
fn function_libraries_persist_through_log_and_snapshot() {
    let s = start(&[]);
    let mut c = s.raw();
    let lib = "#!lua name=counter\n\
               redis.register_function('bump', function(keys, args) return redis.call('incrby', keys[1], args[1]) end)\n\
               redis.register_function{function_name='peek', callback=function(keys) return redis.call('get', keys[1]) end, flags={'no-writes'}}";
    assert_eq!(text(&c.cmd(&["FUNCTION", "LOAD", lib])), "counter");
    assert_eq!(int(&c.cmd(&["FCALL", "bump", "1", "n", "5"])), 5);
    assert_eq!(text(&c.cmd(&["FCALL_RO", "peek", "1", "n"])), "5");
    assert_eq!(
        err(&c.cmd(&["FCALL_RO", "bump", "1", "n", "1"])),
        "ERR Can not execute a script with write flag using *_ro command."
    );
    // From the log alone.
    let s = crash_restart(s);
    let mut c = s.raw();
    assert_eq!(int(&c.cmd(&["FCALL", "bump", "1", "n", "1"])), 6);
    // From a snapshot (the log is compacted by SAVE).
    assert_eq!(c.cmd(&["SAVE"]), Frame::Simple("OK".into()));
    let s = crash_restart(s);
    let mut c = s.raw();
    assert_eq!(int(&c.cmd(&["FCALL", "bump", "1", "n", "1"])), 7);
    let dump = c.cmd(&["FUNCTION", "DUMP"]);
    let Frame::Bulk(payload) = dump else {
        panic!("dump: {dump:?}")
    };
    assert_eq!(
        c.cmd(&["FUNCTION", "DELETE", "counter"]),
        Frame::Simple("OK".into())
    );
    assert_eq!(
        err(&c.cmd(&["FCALL", "bump", "1", "n", "1"])),
        "ERR Function not found"
    );
    let r = c.call(&[b"FUNCTION", b"RESTORE", &payload]).unwrap();
    assert_eq!(r, Frame::Simple("OK".into()));
    assert_eq!(int(&c.cmd(&["FCALL", "bump", "1", "n", "1"])), 8);
    // A damaged payload changes nothing.
    let mut bad = payload.to_vec();
    bad[3] ^= 1;
    assert!(err(&c.call(&[b"FUNCTION", b"RESTORE", &bad, b"FLUSH"]).unwrap()).contains("checksum"));
    assert_eq!(int(&c.cmd(&["FCALL", "bump", "1", "n", "1"])), 9);
}

#[test]
fn blocked_clients_are_served_after_the_script() {
    let s = start(&[]);
    let mut waiter = s.raw();
    let mut c = s.raw();
    waiter.send(&[b"BLPOP", b"q", b"0"]).unwrap();
    assert!(wait_until(Duration::from_secs(10), || {
        text(&c.cmd(&["CLIENT", "LIST"])).contains("cmd=blpop")
    }));
    // The script pushes and pops: it sees its own element; the waiter does
    // not get it (Redis serves blocked clients after the script).
    assert_eq!(
        text(&c.cmd(&[
            "EVAL",
            "redis.call('rpush', 'q', 'a') return redis.call('lpop', 'q')",
            "0"
        ])),
        "a"
    );
    // The next script leaves an element: the waiter gets it afterwards.
    assert_eq!(
        int(&c.cmd(&[
            "EVAL",
            "redis.call('rpush', 'q', 'b') return redis.call('llen', 'q')",
            "0"
        ])),
        1
    );
    assert_eq!(
        waiter.read_frame().unwrap().unwrap(),
        Frame::Array(vec![Frame::Bulk("q".into()), Frame::Bulk("b".into())])
    );
}

#[test]
fn script_writes_notify_and_dirty_watch() {
    let s = start(&[]);
    let mut c = s.raw();
    let mut sub = s.raw();
    c.cmd(&["CONFIG", "SET", "notify-keyspace-events", "KEA"]);
    sub.cmd(&["SUBSCRIBE", "__keyspace@0__:k"]);
    c.cmd(&["EVAL", "return redis.call('set', 'k', 'v')", "0"]);
    let msg = sub.read_frame().unwrap().unwrap();
    assert_eq!(
        msg,
        Frame::Array(vec![
            Frame::Bulk("message".into()),
            Frame::Bulk("__keyspace@0__:k".into()),
            Frame::Bulk("set".into())
        ])
    );
    let mut w = s.raw();
    w.cmd(&["WATCH", "k"]);
    c.cmd(&["EVAL", "return redis.call('append', 'k', 'x')", "0"]);
    w.cmd(&["MULTI"]);
    w.cmd(&["SET", "k", "mine"]);
    assert_eq!(w.cmd(&["EXEC"]), Frame::Null);
    assert_eq!(text(&c.cmd(&["GET", "k"])), "vx");
}

/// Polls until `c`'s command answers BUSY (the script passed the threshold).
fn wait_busy(c: &mut RawClient) {
    assert!(wait_until(Duration::from_secs(10), || {
        matches!(c.cmd(&["GET", "x"]), Frame::Error(e) if e.starts_with("BUSY "))
    }));
}

#[test]
fn busy_script_kill_and_unkillable() {
    let s = start(&["--busy-reply-threshold", "100"]);
    let mut runner = s.raw();
    let mut c = s.raw();
    assert_eq!(
        err(&c.cmd(&["SCRIPT", "KILL"])),
        "NOTBUSY No scripts in execution right now."
    );
    runner.send(&[b"EVAL", LOOP.as_bytes(), b"0"]).unwrap();
    wait_busy(&mut c);
    assert_eq!(
        err(&c.cmd(&["PING"])),
        "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
    );
    assert_eq!(c.cmd(&["SCRIPT", "KILL"]), Frame::Simple("OK".into()));
    let r = runner.read_frame().unwrap().unwrap();
    assert!(
        err(&r).starts_with("ERR Script killed by user with SCRIPT KILL..."),
        "{r:?}"
    );
    assert_eq!(c.cmd(&["PING"]), Frame::Simple("PONG".into()));

    // A script that wrote cannot be killed.
    runner
        .send(&[
            b"EVAL",
            format!("redis.call('set', 'w', '1') {LOOP}").as_bytes(),
            b"0",
        ])
        .unwrap();
    wait_busy(&mut c);
    assert!(err(&c.cmd(&["SCRIPT", "KILL"])).starts_with("UNKILLABLE "));
    // SHUTDOWN NOSAVE stops the server; the restart must not run the
    // never-ending script again, and its write is lost (as in Redis).
    let mut s = s;
    let _ = c.send(&[b"SHUTDOWN", b"NOSAVE"]);
    assert!(s.wait_exit(Duration::from_secs(20)).is_some());
    let s = s.restart(&[]).expect("restart after SHUTDOWN NOSAVE");
    let mut c = s.raw();
    assert_eq!(c.cmd(&["GET", "w"]), Frame::Null);
    assert_eq!(c.cmd(&["PING"]), Frame::Simple("PONG".into()));
}

#[test]
fn read_only_scripts_run_without_the_log() {
    let s = start(&["--busy-reply-threshold", "100"]);
    let mut c = s.raw();
    c.cmd(&["SET", "k", "v"]);
    assert_eq!(
        text(&c.cmd(&["EVAL_RO", "return redis.call('get', KEYS[1])", "1", "k"])),
        "v"
    );
    let sha = text(&c.cmd(&[
        "SCRIPT",
        "LOAD",
        "#!lua flags=no-writes\nreturn redis.call('get', 'k')",
    ]));
    assert_eq!(text(&c.cmd(&["EVALSHA_RO", &sha, "0"])), "v");
    assert!(err(&c.cmd(&["EVAL_RO", "#!lua\nreturn 1", "0"])).contains("write flag"));
    // A read-only busy script is killable too.
    let mut runner = s.raw();
    runner.send(&[b"EVAL_RO", LOOP.as_bytes(), b"0"]).unwrap();
    wait_busy(&mut c);
    assert_eq!(c.cmd(&["SCRIPT", "KILL"]), Frame::Simple("OK".into()));
    assert!(err(&runner.read_frame().unwrap().unwrap()).contains("Script killed"));
    assert_eq!(c.cmd(&["INCR", "n"]), Frame::Integer(1));
}

#[test]
fn hostile_script_input_is_refused_cleanly() {
    let s = start(&[]);
    let mut c = s.raw();
    for (args, want) in [
        (
            vec!["EVAL", "return 1", "-1"],
            "ERR Number of keys can't be negative",
        ),
        (
            vec!["EVAL", "return 1", "x"],
            "ERR value is not an integer or out of range",
        ),
        (
            vec!["EVAL", "return 1", "3", "a"],
            "ERR Number of keys can't be greater than number of args",
        ),
        (
            vec!["EVALSHA", "nope", "0"],
            "NOSCRIPT No matching script. Please use EVAL.",
        ),
        (
            vec!["FUNCTION", "LOAD", "return 1"],
            "ERR Missing library metadata",
        ),
        (
            vec!["FUNCTION", "RESTORE", "garbage"],
            "ERR DUMP payload version or checksum are wrong",
        ),
        (
            vec!["SCRIPT", "FLUSH", "NOW"],
            "ERR SCRIPT FLUSH only support SYNC|ASYNC option",
        ),
    ] {
        assert_eq!(err(&c.cmd(&args)), want, "{args:?}");
    }
    // Binary garbage as a body is a compile error, and deep recursion and
    // huge allocations are script errors; the server keeps serving.
    let r = c.call(&[b"EVAL", b"\x00\xff\xfe", b"0"]).unwrap();
    assert!(err(&r).starts_with("ERR Error compiling script"));
    let r = c.cmd(&[
        "EVAL",
        "local function f() return f() + 1 end return f()",
        "0",
    ]);
    assert!(err(&r).contains("stack overflow"), "{r:?}");
    let r = c.cmd(&["EVAL", "return string.rep('x', 1500000000)", "0"]);
    assert!(err(&r).contains("memory"));
    assert_eq!(c.cmd(&["PING"]), Frame::Simple("PONG".into()));
}
