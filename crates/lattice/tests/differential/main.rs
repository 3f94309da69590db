//! Differential tests: every command in `cases/*.txt` is sent to Debian's
//! `redis-server` (7.0) and to Lattice, and the raw reply frames must be
//! identical.
//!
//! Case format: one command per line in redis-cli inline syntax; `#` starts
//! a comment; `!sort CMD…` compares with the reply's array elements sorted
//! (unordered replies); `!len CMD…` compares only the reply's type and
//! length (random replies). Each file starts from FLUSHALL and RESET.
//!
//! `redis-server` must be on PATH (`.ci/run` installs it).

// Test helpers outside #[test] functions may unwrap and index: a panic
// is a test failure, which is what we want.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::Path;

use lattice_resp::split_inline_args;
use lattice_testkit::{Frame, RawClient, RedisServer, TestServer};

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Exact,
    Sorted,
    Len,
}

fn sort_key(f: &Frame) -> String {
    format!("{f:?}")
}

fn normalise(f: Frame, mode: Mode) -> String {
    match (mode, f) {
        (Mode::Sorted, Frame::Array(mut v)) | (Mode::Sorted, Frame::Set(mut v)) => {
            v.sort_by_key(sort_key);
            format!("{:?}", Frame::Array(v))
        }
        (Mode::Len, Frame::Array(v)) | (Mode::Len, Frame::Set(v)) => {
            format!("array of {}", v.len())
        }
        (Mode::Len, Frame::Map(v)) => format!("map of {}", v.len()),
        (Mode::Len, Frame::Bulk(_)) => "bulk".into(),
        (_, f) => format!("{f:?}"),
    }
}

fn run_file(
    path: &Path,
    redis: &mut RawClient,
    lattice: &mut RawClient,
    failures: &mut Vec<String>,
) -> usize {
    let text = std::fs::read_to_string(path).expect("read case file");
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    for c in [&mut *redis, &mut *lattice] {
        c.cmd(&["RESET"]);
        c.cmd(&["FLUSHALL"]);
    }
    let mut count = 0;
    for (lineno, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (mode, cmdline) = if let Some(rest) = line.strip_prefix("!sort ") {
            (Mode::Sorted, rest)
        } else if let Some(rest) = line.strip_prefix("!len ") {
            (Mode::Len, rest)
        } else {
            (Mode::Exact, line)
        };
        let args = split_inline_args(cmdline.as_bytes())
            .unwrap_or_else(|e| panic!("{name}:{}: bad case line: {e}", lineno + 1));
        let argv: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        let want = redis
            .call(&argv)
            .unwrap_or_else(|e| panic!("{name}:{}: redis: {e}", lineno + 1));
        let got = match lattice.call(&argv) {
            Ok(f) => f,
            Err(e) => {
                failures.push(format!(
                    "{name}:{}: `{cmdline}`: lattice connection failed: {e}",
                    lineno + 1
                ));
                *lattice = RawClient::tcp(lattice_addr()).expect("reconnect");
                continue;
            }
        };
        count += 1;
        let (w, g) = (normalise(want, mode), normalise(got, mode));
        if w != g {
            failures.push(format!(
                "{name}:{}: `{cmdline}`\n    redis:   {w}\n    lattice: {g}",
                lineno + 1
            ));
        }
    }
    count
}

static ADDR: std::sync::OnceLock<std::net::SocketAddr> = std::sync::OnceLock::new();

fn lattice_addr() -> std::net::SocketAddr {
    *ADDR.get().expect("lattice started")
}

#[test]
fn replies_match_redis_server() {
    let redis = RedisServer::start().expect("redis-server is required for differential tests");
    let lattice = TestServer::start(env!("CARGO_BIN_EXE_lattice"), &[]).expect("start lattice");
    let _ = ADDR.set(lattice.addr);
    let mut rc = redis.raw();
    let mut lc = lattice.raw();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/differential/cases");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("cases dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no case files in {}", dir.display());
    let filter = std::env::var("LATTICE_DIFF_ONLY").ok();
    let mut failures = Vec::new();
    let mut total = 0;
    for f in &files {
        if let Some(only) = &filter {
            if !f.to_string_lossy().contains(only.as_str()) {
                continue;
            }
        }
        total += run_file(f, &mut rc, &mut lc, &mut failures);
    }
    eprintln!(
        "differential: {total} commands compared across {} files",
        files.len()
    );
    assert!(total > 0, "no commands compared");
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
