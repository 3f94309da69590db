//! Configuration like redis-server: a file plus `--directive value`
//! arguments, start-up refused with a message naming a bad directive, and
//! CONFIG GET/SET/REWRITE.

use std::process::Command;

use lattice_testkit::{Frame, TestServer};

use crate::start;

fn run_and_capture(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lattice"))
        .args(args)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn bad_directives_stop_startup_and_are_named() {
    for (args, name) in [
        (
            vec!["--port", "0", "--no-such-directive", "1"],
            "no-such-directive",
        ),
        (vec!["--port", "70000"], "port"),
        (vec!["--port", "0", "--maxmemory", "lots"], "maxmemory"),
        (
            vec!["--port", "0", "--maxmemory-policy", "sometimes"],
            "maxmemory-policy",
        ),
        (vec!["--port", "0", "--databases", "0"], "databases"),
        (
            vec!["/nonexistent/lattice.conf"],
            "/nonexistent/lattice.conf",
        ),
    ] {
        let (ok, text) = run_and_capture(&args);
        assert!(!ok, "{args:?} should fail");
        assert!(
            text.contains(name),
            "{args:?}: message should name {name}: {text}"
        );
    }
}

#[test]
fn config_file_then_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("lattice.conf");
    std::fs::write(
        &conf,
        "# test\nport 0\nmaxmemory 5mb\nmaxmemory-policy allkeys-lru\nhz 20\n",
    )
    .unwrap();
    let args = vec![
        conf.to_string_lossy().into_owned(),
        "--dir".into(),
        dir.path().to_string_lossy().into_owned(),
        "--maxmemory".into(),
        "7mb".into(),
    ];
    let workdir = tempfile::tempdir().unwrap();
    let s = TestServer::spawn(env!("CARGO_BIN_EXE_lattice"), &args, workdir).unwrap();
    let mut raw = s.raw();
    let get = |raw: &mut lattice_testkit::RawClient, k: &str| match raw.cmd(&["CONFIG", "GET", k]) {
        Frame::Array(v) => v.get(1).cloned().unwrap(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        get(&mut raw, "maxmemory"),
        Frame::Bulk((7u64 << 20).to_string().into())
    );
    assert_eq!(
        get(&mut raw, "maxmemory-policy"),
        Frame::Bulk("allkeys-lru".into())
    );
    assert_eq!(get(&mut raw, "hz"), Frame::Bulk("20".into()));
    // CONFIG REWRITE persists a change; a restart from the file sees it.
    assert_eq!(
        raw.cmd(&["CONFIG", "SET", "maxmemory-policy", "volatile-ttl"]),
        Frame::Simple("OK".into())
    );
    assert_eq!(raw.cmd(&["CONFIG", "REWRITE"]), Frame::Simple("OK".into()));
    drop(s);
    let text = std::fs::read_to_string(&conf).unwrap();
    assert!(text.contains("maxmemory-policy volatile-ttl"), "{text}");
    let s = TestServer::spawn(
        env!("CARGO_BIN_EXE_lattice"),
        &[conf.to_string_lossy().into_owned()],
        tempfile::tempdir().unwrap(),
    )
    .unwrap();
    let mut raw = s.raw();
    assert_eq!(
        get(&mut raw, "maxmemory-policy"),
        Frame::Bulk("volatile-ttl".into())
    );
}

#[test]
fn config_set_is_atomic_and_validates() {
    let s = start(&[]);
    let mut raw = s.raw();
    let r = raw.cmd(&["CONFIG", "SET", "maxmemory", "1mb", "port", "1"]);
    assert_eq!(
        r,
        Frame::Error("ERR CONFIG SET failed (possibly related to argument 'port') - can't set immutable config".into())
    );
    assert_eq!(
        raw.cmd(&["CONFIG", "GET", "maxmemory"]),
        Frame::Array(vec![
            Frame::Bulk("maxmemory".into()),
            Frame::Bulk("0".into())
        ])
    );
    assert_eq!(
        raw.cmd(&["CONFIG", "SET", "timeout", "-1"]).clone(),
        raw.cmd(&["CONFIG", "SET", "timeout", "x"])
    );
    assert!(
        matches!(raw.cmd(&["CONFIG", "REWRITE"]), Frame::Error(e) if e.contains("without a config file"))
    );
}

#[test]
fn idle_clients_are_closed_by_timeout() {
    let s = start(&["--timeout", "1"]);
    let mut raw = s.raw();
    assert_eq!(raw.cmd(&["PING"]), Frame::Simple("PONG".into()));
    // The next read returns EOF once the server closes the idle connection.
    assert!(matches!(raw.read_frame(), Ok(None) | Err(_)));
}
