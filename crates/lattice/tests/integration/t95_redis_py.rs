//! redis-py, a real client library, against the real binary: its parsers for
//! INFO, CLIENT LIST and CONFIG GET, RESP3 maps and doubles, pipelines with
//! MULTI/EXEC and WATCH, pub/sub and blocking pops (the checks live in
//! `tests/python/redis_py_client.py`). Needs python3 with the `redis`
//! package (`.ci/run` installs it).

use crate::start;

#[test]
fn redis_py_works_unmodified() {
    let s = start(&[]);
    crate::run_python_checks(&s, "redis_py_client.py");
}
