//! Runs the load generator's library functions against the real `lattice`
//! binary: short set, get (with preload), mixed and pipelined collection
//! workloads must complete every request with no error.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use lattice_bench::{run, Config, Protocol, Workload};
use lattice_testkit::{Frame, TestServer};

/// The `lattice` binary of this target directory and profile (built by
/// `cargo test --workspace`); built here when missing, e.g. under
/// `cargo test -p lattice-bench`. `LATTICE_BIN` overrides.
fn lattice_bin() -> String {
    if let Ok(bin) = std::env::var("LATTICE_BIN") {
        return bin;
    }
    // target/<profile>/deps/loadgen-<hash>
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap().to_path_buf();
    let bin: PathBuf = profile_dir.join("lattice");
    if !bin.exists() {
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args(["build", "-p", "lattice", "--bin", "lattice", "--target-dir"])
            .arg(profile_dir.parent().unwrap())
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let status = cmd.status().unwrap();
        assert!(status.success(), "cargo build -p lattice failed");
    }
    assert!(bin.exists(), "no lattice binary at {}", bin.display());
    bin.to_string_lossy().into_owned()
}

fn config(server: &TestServer, workload: Workload) -> Config {
    Config {
        host: server.addr.ip().to_string(),
        port: server.addr.port(),
        protocol: Protocol::Resp,
        workload,
        connections: 4,
        pipeline: 1,
        requests: Some(2_000),
        keys: 500,
        value_size: 16,
        ..Config::default()
    }
}

fn assert_clean(report: &lattice_bench::Report, requests: u64) {
    let json = report.to_json().unwrap();
    assert_eq!(report.stats.errors(), 0, "errors: {json:#}");
    assert_eq!(report.stats.requests(), requests, "{json:#}");
    assert_eq!(report.stats.ok(), requests, "{json:#}");
    assert_eq!(json["errors"], 0);
    assert_eq!(json["requests"], requests);
    assert!(json["ops_per_sec"].as_f64().unwrap() > 0.0, "{json:#}");
    let lat = &json["latency_ms"];
    let (p50, p99, p999) = (
        lat["p50"].as_f64().unwrap(),
        lat["p99"].as_f64().unwrap(),
        lat["p999"].as_f64().unwrap(),
    );
    assert!(p50 > 0.0 && p50 <= p99 && p99 <= p999, "{lat}");
}

#[test]
fn set_then_get_against_lattice() {
    let server = TestServer::start(&lattice_bin(), &[]).unwrap();

    let set = run(&config(&server, Workload::Set)).unwrap();
    assert_clean(&set, 2_000);
    assert_eq!(set.stats.misses(), 0);

    // Preload writes every key first, so every GET finds its key.
    let get = run(&Config {
        preload: true,
        ..config(&server, Workload::Get)
    })
    .unwrap();
    assert_clean(&get, 2_000);
    assert_eq!(get.stats.misses(), 0, "preloaded keys must all be found");
    let json = get.to_json().unwrap();
    assert_eq!(json["preload"]["keys"], 500);
    assert_eq!(json["ops"]["get"]["requests"], 2_000);

    // The server holds exactly the key space, with values of the asked size.
    let mut raw = server.raw();
    assert_eq!(raw.cmd(&["DBSIZE"]), Frame::Integer(500));
    assert_eq!(raw.cmd(&["STRLEN", "key:000000000499"]), Frame::Integer(16));
}

#[test]
fn mixed_and_pipelined_workloads_against_lattice() {
    let server = TestServer::start(
        &lattice_bin(),
        &["--appendonly", "yes", "--appendfsync", "always"],
    )
    .unwrap();

    let mixed = run(&Config {
        read_ratio: 0.5,
        preload: true,
        ..config(&server, Workload::Mixed)
    })
    .unwrap();
    assert_clean(&mixed, 2_000);
    let json = mixed.to_json().unwrap();
    let gets = json["ops"]["get"]["requests"].as_u64().unwrap();
    let sets = json["ops"]["set"]["requests"].as_u64().unwrap();
    assert_eq!(gets + sets, 2_000);
    assert!(gets > 500 && sets > 500, "{gets} gets, {sets} sets");

    for workload in [
        Workload::Incr,
        Workload::Lpush,
        Workload::Zadd,
        Workload::Hset,
    ] {
        let r = run(&Config {
            pipeline: 16,
            requests: Some(1_000),
            ..config(&server, workload)
        })
        .unwrap();
        assert_clean(&r, 1_000);
    }

    // A duration stop, two client threads.
    let timed = run(&Config {
        requests: None,
        duration: Some(Duration::from_millis(300)),
        threads: 2,
        ..config(&server, Workload::Set)
    })
    .unwrap();
    assert_eq!(timed.stats.errors(), 0);
    assert!(timed.stats.requests() > 0);
    assert!(timed.elapsed >= Duration::from_millis(300));
}

#[test]
fn refused_connection_is_an_error() {
    // Bind and drop a listener: nothing listens on that port afterwards.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = run(&Config {
        port,
        connections: 2,
        requests: Some(10),
        ..Config::default()
    })
    .unwrap_err();
    assert!(format!("{err:#}").contains("connecting to"), "{err:#}");
}
