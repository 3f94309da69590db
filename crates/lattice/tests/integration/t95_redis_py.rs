//! redis-py, a real client library, against the real binary: its parsers for
//! INFO, CLIENT LIST and CONFIG GET, RESP3 maps and doubles, pipelines with
//! MULTI/EXEC and WATCH, pub/sub and blocking pops (the checks live in
//! `tests/python/redis_py_client.py`). Needs python3 with the `redis`
//! package (`.ci/run` installs it).

use std::process::Command;

use crate::start;

#[test]
fn redis_py_works_unmodified() {
    let s = start(&[]);
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/python/redis_py_client.py"
    );
    let out = Command::new("python3")
        .arg(script)
        .arg(s.addr.port().to_string())
        .output()
        .expect("python3 is required (apt-get install python3)");
    assert!(
        out.status.success(),
        "redis-py checks failed (pip install redis):\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("all checks passed"));
}
