//! redis-py's scripting API against the real binary: `register_script`
//! (EVALSHA, NOSCRIPT, SCRIPT LOAD, EVALSHA hits), the EVALSHA-then-EVAL
//! fallback, registered scripts in MULTI/EXEC pipelines, functions
//! (`function_load`, `fcall`, `fcall_ro`, `function_list`, DUMP/RESTORE), a
//! rate limiter writing a key it was not given in KEYS, and RESP3 replies
//! (the checks live in `tests/python/redis_py_scripting.py`). The same
//! checks run against redis-server 7.0.15 first, so they assert Redis's
//! behaviour. Needs python3 with the `redis` package and redis-server
//! (`.ci/run` installs both).

use std::process::{Command, Output};

use lattice_testkit::RedisServer;

use crate::start;

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/python/redis_py_scripting.py"
);

fn run_checks(target: &str) -> Output {
    Command::new("python3")
        .arg(SCRIPT)
        .arg(target)
        .output()
        .expect("python3 is required (apt-get install python3)")
}

fn assert_passed(who: &str, out: &Output) {
    assert!(
        out.status.success(),
        "redis-py scripting checks failed against {who} (pip install redis):\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("all checks passed"),
        "{who}: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn redis_py_scripting_matches_redis() {
    let redis =
        RedisServer::start().expect("redis-server is required (apt-get install redis-server)");
    assert_passed("redis-server", &run_checks(&redis.socket.to_string_lossy()));
    drop(redis);

    let s = start(&[]);
    assert_passed("lattice", &run_checks(&s.addr.port().to_string()));
}
