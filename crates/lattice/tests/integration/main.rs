//! End-to-end tests: the real `lattice` binary on an ephemeral port, driven
//! by the `redis` crate and by raw RESP. One binary for all areas (link time);
//! files are numbered by area as in openraft's test layout.

// Test helpers outside #[test] functions may unwrap and index: a panic
// is a test failure, which is what we want.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod t10_connection;
mod t20_hostile_input;
mod t30_expiry;
mod t40_eviction;
mod t50_blocking;
mod t60_config;
mod t70_observability;
mod t80_transactions;
mod t90_pubsub;
mod t91_keyspace_classes;
mod t95_redis_py;
mod t96_persistence;
mod t97_tracking;
mod t98_scripting_py;
mod t99_scripting;

use lattice_testkit::TestServer;

/// A string reply's text (bulk, verbatim or simple); panics on anything else.
pub fn text(f: &lattice_testkit::Frame) -> String {
    use lattice_testkit::Frame;
    match f {
        Frame::Bulk(b) | Frame::Verbatim(b) => String::from_utf8_lossy(b).into_owned(),
        Frame::Simple(s) => s.clone(),
        other => panic!("not a string: {other:?}"),
    }
}

/// An integer reply's value; panics on anything else.
pub fn int(f: &lattice_testkit::Frame) -> i64 {
    match f {
        lattice_testkit::Frame::Integer(n) => *n,
        other => panic!("not an integer: {other:?}"),
    }
}

/// Runs `tests/python/<script>` with the server's port; it must exit 0 and
/// print "all checks passed" (redis-py tests; `.ci/run` installs redis-py).
pub fn run_python_checks(s: &TestServer, script: &str) {
    let path = format!("{}/tests/python/{script}", env!("CARGO_MANIFEST_DIR"));
    let out = std::process::Command::new("python3")
        .arg(&path)
        .arg(s.addr.port().to_string())
        .output()
        .expect("python3 is required (apt-get install python3)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{script} failed (pip install redis):\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("all checks passed"), "{script}: {stdout}");
}

/// Starts the binary with extra directives.
pub fn start(extra: &[&str]) -> TestServer {
    TestServer::start(env!("CARGO_BIN_EXE_lattice"), extra).expect("start lattice")
}

/// A synchronous `redis` crate connection.
pub fn connect(s: &TestServer) -> redis::Connection {
    redis::Client::open(s.url())
        .unwrap()
        .get_connection()
        .unwrap()
}

/// Reads one INFO field as an integer.
pub fn info_field(con: &mut redis::Connection, section: &str, field: &str) -> i64 {
    let info: String = redis::cmd("INFO").arg(section).query(con).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in INFO {section}"))
        .trim()
        .parse()
        .unwrap()
}
