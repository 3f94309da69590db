//! Observability end to end: INFO commandstats/errorstats/latencystats,
//! SLOWLOG, LATENCY, HOTKEYS (and `redis-cli --hotkeys`), and the Prometheus
//! endpoint (`--metrics-port auto`) read by a real text-format parser.

// Test helpers outside `#[test]` functions: clippy's allow-*-in-tests
// settings do not reach them, and a panic is the right failure here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use lattice_testkit::{encode_command, wait_until, Frame, RawClient, TestServer};

use crate::{int, start, text as bulk};

fn array(f: &Frame) -> &[Frame] {
    match f {
        Frame::Array(v) => v,
        other => panic!("not an array: {other:?}"),
    }
}

fn info(raw: &mut RawClient, section: &str) -> String {
    let args: Vec<&str> = if section.is_empty() {
        vec!["INFO"]
    } else {
        vec!["INFO", section]
    };
    bulk(&raw.cmd(&args))
}

/// `field=value` pairs of an INFO line such as `cmdstat_get:calls=1,…`.
fn info_line(text: &str, key: &str) -> Option<BTreeMap<String, String>> {
    let rest = text
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))?;
    Some(
        rest.trim()
            .split(',')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

/// Sends `n` copies of `args` in one write and reads the `n` replies.
fn pipeline(raw: &mut RawClient, args: &[&str], n: usize) {
    let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
    let one = encode_command(&a);
    raw.send_raw(&one.repeat(n)).unwrap();
    for _ in 0..n {
        raw.read_frame().unwrap().expect("reply");
    }
}

#[test]
fn info_command_error_and_latency_stats() {
    let s = start(&[]);
    let mut raw = s.raw();
    raw.cmd(&["SET", "a", "1"]);
    raw.cmd(&["GET", "a"]);
    raw.cmd(&["GET", "a"]);
    assert!(matches!(raw.cmd(&["GET"]), Frame::Error(_)));
    assert!(matches!(raw.cmd(&["INCR", "a"]), Frame::Integer(2)));
    raw.cmd(&["SET", "s", "x"]);
    assert!(matches!(raw.cmd(&["INCR", "s"]), Frame::Error(_)));
    assert!(matches!(raw.cmd(&["LPUSH", "s", "x"]), Frame::Error(_)));
    assert!(matches!(raw.cmd(&["CLIENT", "NOSUCH"]), Frame::Error(_)));
    assert!(matches!(raw.cmd(&["NOSUCH"]), Frame::Error(_)));
    raw.cmd(&["CLIENT", "ID"]);

    let text = info(&mut raw, "commandstats");
    assert!(text.starts_with("# Commandstats\r\n"), "{text}");
    let get = info_line(&text, "cmdstat_get").expect("cmdstat_get");
    assert_eq!(get["calls"], "2");
    assert_eq!(get["rejected_calls"], "1");
    assert_eq!(get["failed_calls"], "0");
    let usec: u64 = get["usec"].parse().unwrap();
    let per_call: f64 = get["usec_per_call"].parse().unwrap();
    assert!((per_call - usec as f64 / 2.0).abs() < 0.01, "{get:?}");
    let incr = info_line(&text, "cmdstat_incr").expect("cmdstat_incr");
    assert_eq!(
        (incr["calls"].as_str(), incr["failed_calls"].as_str()),
        ("2", "1")
    );
    assert!(info_line(&text, "cmdstat_client|id").is_some(), "{text}");
    assert!(info_line(&text, "cmdstat_nosuch").is_none());
    assert!(
        !text.contains("client|nosuch"),
        "unknown subcommands have no stats: {text}"
    );

    let errors = info(&mut raw, "errorstats");
    assert_eq!(
        info_line(&errors, "errorstat_ERR").unwrap()["count"],
        "4",
        "{errors}"
    );
    assert_eq!(
        info_line(&errors, "errorstat_WRONGTYPE").unwrap()["count"],
        "1",
        "{errors}"
    );

    let lat = info(&mut raw, "latencystats");
    let p = info_line(&lat, "latency_percentiles_usec_get").expect("latency line for get");
    assert_eq!(
        p.keys().cloned().collect::<Vec<_>>(),
        vec!["p50", "p99", "p99.9"]
    );
    for v in p.values() {
        let (_, decimals) = v.split_once('.').expect("three decimals");
        assert_eq!(decimals.len(), 3, "{v}");
    }

    // Default INFO has errorstats but not the per-command sections; all and
    // everything have all three, in Redis's order.
    let default = info(&mut raw, "");
    assert!(
        default.contains("# Errorstats")
            && !default.contains("# Commandstats")
            && !default.contains("# Latencystats")
    );
    for which in ["all", "everything"] {
        let all = info(&mut raw, which);
        let order: Vec<&str> = all.lines().filter(|l| l.starts_with("# ")).collect();
        let pos = |h: &str| {
            order
                .iter()
                .position(|l| *l == h)
                .unwrap_or_else(|| panic!("{h} in {order:?}"))
        };
        assert!(pos("# CPU") < pos("# Commandstats"));
        assert!(pos("# Commandstats") < pos("# Errorstats"));
        assert!(pos("# Errorstats") < pos("# Latencystats"));
        assert!(pos("# Latencystats") < pos("# Keyspace"));
        assert!(pos("# Keyspace") < pos("# Raft"));
    }

    // Percentiles follow latency-tracking-info-percentiles.
    raw.cmd(&["CONFIG", "SET", "latency-tracking-info-percentiles", "90"]);
    let lat = info(&mut raw, "latencystats");
    assert_eq!(
        info_line(&lat, "latency_percentiles_usec_get")
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        vec!["p90"]
    );

    // CONFIG RESETSTAT clears all three.
    assert_eq!(
        raw.cmd(&["CONFIG", "RESETSTAT"]),
        Frame::Simple("OK".into())
    );
    let text = info(&mut raw, "commandstats");
    assert!(info_line(&text, "cmdstat_get").is_none(), "{text}");
    assert!(info_line(&info(&mut raw, "errorstats"), "errorstat_ERR").is_none());
    assert!(info_line(
        &info(&mut raw, "latencystats"),
        "latency_percentiles_usec_get"
    )
    .is_none());
}

#[test]
fn slowlog_with_threshold_zero_logs_everything_bounded() {
    let s = start(&["--slowlog-log-slower-than", "0", "--slowlog-max-len", "4"]);
    let mut raw = s.raw();
    raw.cmd(&["CLIENT", "SETNAME", "observer"]);
    let long = "v".repeat(300);
    raw.cmd(&["SET", "k", &long]);
    let entries = raw.cmd(&["SLOWLOG", "GET", "1"]);
    let e = array(array(&entries).first().expect("one entry"));
    assert_eq!(e.len(), 6);
    assert!(int(&e[1]) > 1_600_000_000, "unix time");
    assert!(int(&e[2]) >= 0);
    let args: Vec<String> = array(&e[3]).iter().map(bulk).collect();
    assert_eq!(
        args,
        vec![
            "SET".to_string(),
            "k".into(),
            format!("{}... (172 more bytes)", "v".repeat(128))
        ]
    );
    let addr: SocketAddr = bulk(&e[4]).parse().expect("client address");
    assert!(addr.ip().is_loopback());
    assert_eq!(bulk(&e[5]), "observer");

    // At most 32 arguments.
    let mut cmd = vec!["RPUSH", "list"];
    let items: Vec<String> = (0..40).map(|i| i.to_string()).collect();
    cmd.extend(items.iter().map(String::as_str));
    raw.cmd(&cmd);
    let entries = raw.cmd(&["SLOWLOG", "GET", "1"]);
    let args: Vec<String> = array(&array(&array(&entries)[0])[3])
        .iter()
        .map(bulk)
        .collect();
    assert_eq!(args.len(), 32);
    assert_eq!(args[31], "... (11 more arguments)");

    // Ids increase, newest first, and the log is bounded by slowlog-max-len.
    for _ in 0..10 {
        raw.cmd(&["PING"]);
    }
    assert_eq!(int(&raw.cmd(&["SLOWLOG", "LEN"])), 4);
    let all = raw.cmd(&["SLOWLOG", "GET", "-1"]);
    let ids: Vec<i64> = array(&all).iter().map(|e| int(&array(e)[0])).collect();
    assert_eq!(ids.len(), 4);
    assert!(ids.windows(2).all(|w| w[0] == w[1] + 1), "{ids:?}");

    // Secrets are redacted.
    raw.cmd(&["AUTH", "someone", "secret"]);
    let entries = raw.cmd(&["SLOWLOG", "GET", "1"]);
    let args: Vec<String> = array(&array(&array(&entries)[0])[3])
        .iter()
        .map(bulk)
        .collect();
    assert_eq!(args, vec!["AUTH", "(redacted)", "(redacted)"]);

    // RESET empties it (then logs itself, as Redis does).
    assert_eq!(raw.cmd(&["SLOWLOG", "RESET"]), Frame::Simple("OK".into()));
    assert_eq!(int(&raw.cmd(&["SLOWLOG", "LEN"])), 1);
    assert!(
        matches!(raw.cmd(&["SLOWLOG", "GET", "-2"]), Frame::Error(e) if e.contains("greater than or equal to -1"))
    );

    // -1 disables it.
    raw.cmd(&["CONFIG", "SET", "slowlog-log-slower-than", "-1"]);
    raw.cmd(&["SLOWLOG", "RESET"]);
    raw.cmd(&["DEBUG", "SLEEP", "0.01"]);
    assert_eq!(int(&raw.cmd(&["SLOWLOG", "LEN"])), 0);
}

#[test]
fn latency_monitor_records_slow_commands() {
    let s = start(&["--latency-monitor-threshold", "10"]);
    let mut raw = s.raw();
    assert_eq!(raw.cmd(&["LATENCY", "LATEST"]), Frame::Array(vec![]));
    raw.cmd(&["DEBUG", "SLEEP", "0.05"]);
    let latest = raw.cmd(&["LATENCY", "LATEST"]);
    let events = array(&latest);
    assert_eq!(events.len(), 1, "{latest:?}");
    let ev = array(&events[0]);
    assert_eq!(bulk(&ev[0]), "command");
    assert!(int(&ev[1]) > 1_600_000_000);
    assert!(int(&ev[2]) >= 50, "{ev:?}");
    assert!(int(&ev[3]) >= int(&ev[2]));
    let history = raw.cmd(&["LATENCY", "HISTORY", "command"]);
    assert_eq!(array(&history).len(), 1);
    let doctor = bulk(&raw.cmd(&["LATENCY", "DOCTOR"]));
    assert!(doctor.contains("1. command: 1 latency spikes"), "{doctor}");
    let graph = bulk(&raw.cmd(&["LATENCY", "GRAPH", "command"]));
    assert!(graph.starts_with("command - high "), "{graph}");

    // LATENCY HISTOGRAM: {debug: {calls: 1, histogram_usec: {bucket: 1}}}
    // (RESP2 flattens maps into arrays).
    let h = raw.cmd(&["LATENCY", "HISTOGRAM", "debug", "nosuchcommand"]);
    let h = array(&h);
    assert_eq!(bulk(&h[0]), "debug");
    let body = array(&h[1]);
    assert_eq!((bulk(&body[0]).as_str(), int(&body[1])), ("calls", 1));
    assert_eq!(bulk(&body[2]), "histogram_usec");
    let buckets = array(&body[3]);
    assert_eq!(buckets.len(), 2);
    let bucket_us = int(&buckets[0]);
    // Power-of-two levels from 1024 ns: a 50 ms sleep lands on 2^26 ns.
    assert!(bucket_us >= 50_000, "{bucket_us}");
    assert_eq!(int(&buckets[1]), 1);

    assert_eq!(int(&raw.cmd(&["LATENCY", "RESET"])), 1);
    assert_eq!(raw.cmd(&["LATENCY", "LATEST"]), Frame::Array(vec![]));
}

/// The address in `Metrics listening addr=…`.
fn metrics_addr(s: &TestServer) -> SocketAddr {
    let mut found = None;
    let ok = wait_until(Duration::from_secs(10), || {
        for line in s.logs() {
            if let Some(rest) = line.split("Metrics listening addr=").nth(1) {
                found = rest.trim().parse().ok();
            }
        }
        found.is_some()
    });
    assert!(ok, "no `Metrics listening` line");
    found.unwrap()
}

/// Sends raw bytes, returns (status, headers, body) of the response.
fn http_raw(addr: SocketAddr, request: &[u8]) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(request).unwrap();
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).unwrap();
    let text = String::from_utf8(resp).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("a head");
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head.to_string(), body.to_string())
}

fn http_get(addr: SocketAddr, path: &str) -> (u16, String, String) {
    http_raw(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes(),
    )
}

/// Parses an exposition with `prometheus-parse`, after checking what that
/// lenient parser does not: every sample belongs to a family declared with
/// both `# HELP` and `# TYPE`.
fn scrape(body: &str) -> prometheus_parse::Scrape {
    let mut typed: BTreeMap<String, String> = BTreeMap::new();
    let mut helped: BTreeSet<String> = BTreeSet::new();
    for line in body.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            helped.insert(rest.split(' ').next().unwrap().to_string());
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            typed.insert(name.to_string(), kind.to_string());
        } else if !line.is_empty() {
            let name = line.split(['{', ' ']).next().unwrap();
            let family = typed.keys().find(|f| {
                name == f.as_str()
                    || (typed[*f] == "histogram"
                        && [
                            format!("{f}_bucket"),
                            format!("{f}_sum"),
                            format!("{f}_count"),
                        ]
                        .iter()
                        .any(|n| n == name))
            });
            assert!(family.is_some(), "sample of an undeclared family: {line}");
        }
    }
    assert_eq!(
        helped,
        typed.keys().cloned().collect(),
        "every family has HELP and TYPE"
    );
    let scrape =
        prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_string()))).expect("parses");
    for name in &helped {
        assert!(
            scrape.docs.contains_key(name),
            "parser saw no HELP for {name}"
        );
    }
    scrape
}

fn value(s: &prometheus_parse::Scrape, metric: &str, label: Option<(&str, &str)>) -> Option<f64> {
    s.samples.iter().find_map(|x| {
        let labelled = label.is_none_or(|(k, v)| x.labels.get(k) == Some(v));
        if x.metric != metric || !labelled {
            return None;
        }
        match x.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => Some(v),
            _ => None,
        }
    })
}

#[test]
fn prometheus_endpoint() {
    let s = start(&["--metrics-port", "auto"]);
    let addr = metrics_addr(&s);
    let mut raw = s.raw();
    raw.cmd(&["SET", "k", "v"]);
    raw.cmd(&["GET", "k"]);
    raw.cmd(&["GET", "missing"]);
    assert!(matches!(raw.cmd(&["LPUSH", "k", "x"]), Frame::Error(_)));

    let (status, head, body) = http_get(addr, "/metrics");
    assert_eq!(status, 200, "{head}");
    assert!(
        head.contains("Content-Type: text/plain; version=0.0.4"),
        "{head}"
    );
    let first = scrape(&body);
    for family in [
        "lattice_commands_total",
        "lattice_errors_total",
        "lattice_keyspace_hits_total",
        "lattice_keyspace_misses_total",
        "lattice_expired_keys_total",
        "lattice_evicted_keys_total",
        "lattice_connected_clients",
        "lattice_blocked_clients",
        "lattice_used_memory_bytes",
        "lattice_maxmemory_bytes",
        "lattice_keys",
        "lattice_connections_received_total",
        "lattice_net_input_bytes_total",
        "lattice_net_output_bytes_total",
        "lattice_uptime_seconds",
        "lattice_hotkey_accesses",
        "lattice_command_duration_seconds",
        "lattice_log_appends_total",
        "lattice_log_fsyncs_total",
        "lattice_log_bytes_written_total",
        "lattice_log_entries",
        "lattice_log_poisoned",
        "lattice_log_disk_full",
        "lattice_raft_term",
        "lattice_raft_is_leader",
        "lattice_raft_last_log_index",
        "lattice_raft_last_applied_index",
        "lattice_raft_snapshot_index",
        "lattice_snapshots_total",
        "lattice_snapshot_last_bytes",
    ] {
        assert!(first.docs.contains_key(family), "missing family {family}");
    }
    // The writes above went through the log of a node that leads itself.
    assert_eq!(value(&first, "lattice_raft_is_leader", None), Some(1.0));
    assert!(value(&first, "lattice_log_appends_total", None).unwrap() >= 1.0);
    assert!(value(&first, "lattice_log_fsyncs_total", None).unwrap() >= 1.0);
    assert_eq!(value(&first, "lattice_log_poisoned", None), Some(0.0));
    assert_eq!(
        value(&first, "lattice_raft_last_applied_index", None),
        value(&first, "lattice_raft_last_log_index", None)
    );
    let set_before =
        value(&first, "lattice_commands_total", Some(("cmd", "set"))).expect("set series");
    assert_eq!(
        value(&first, "lattice_errors_total", Some(("error", "WRONGTYPE"))),
        Some(1.0)
    );
    assert_eq!(value(&first, "lattice_keys", Some(("db", "0"))), Some(1.0));
    assert!(value(&first, "lattice_keyspace_hits_total", None).unwrap() >= 1.0);
    assert!(value(&first, "lattice_keyspace_misses_total", None).unwrap() >= 1.0);
    assert!(value(&first, "lattice_connected_clients", None).unwrap() >= 1.0);
    let hist = first
        .samples
        .iter()
        .find(|x| {
            x.metric == "lattice_command_duration_seconds" && x.labels.get("cmd") == Some("get")
        })
        .expect("get histogram");
    let prometheus_parse::Value::Histogram(buckets) = &hist.value else {
        panic!("{hist:?}")
    };
    let inf = buckets
        .iter()
        .find(|b| b.less_than.is_infinite())
        .expect("+Inf bucket");
    assert_eq!(inf.count, 2.0);
    let mut sorted = buckets.clone();
    sorted.sort_by(|a, b| a.less_than.total_cmp(&b.less_than));
    assert!(
        sorted.windows(2).all(|w| w[0].count <= w[1].count),
        "cumulative buckets"
    );

    // Values move, including the hot-key series after hammering one key.
    pipeline(&mut raw, &["SET", "hot", "1"], 400);
    let (_, _, body) = http_get(addr, "/metrics");
    let second = scrape(&body);
    let set_after = value(&second, "lattice_commands_total", Some(("cmd", "set"))).unwrap();
    assert_eq!(set_after, set_before + 400.0);
    assert!(
        value(&second, "lattice_net_input_bytes_total", None)
            > value(&first, "lattice_net_input_bytes_total", None)
    );
    let hot =
        value(&second, "lattice_hotkey_accesses", Some(("key", "hot"))).expect("hot key series");
    assert!(hot > 0.0);

    // Health, readiness, errors, and the server keeps serving after them.
    let (status, _, body) = http_get(addr, "/healthz");
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    assert_eq!(http_get(addr, "/readyz").0, 200);
    assert_eq!(http_get(addr, "/nope").0, 404);
    assert_eq!(http_raw(addr, b"this is not http\r\n\r\n").0, 400);
    assert_eq!(
        http_raw(addr, b"GET /metrics HTTP/1.1\r\nbroken header line\r\n\r\n").0,
        400
    );
    assert_eq!(http_raw(addr, b"POST /metrics HTTP/1.1\r\n\r\n").0, 405);
    let mut big = b"GET /metrics HTTP/1.1\r\n".to_vec();
    big.extend(
        std::iter::repeat_n(
            b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n".as_slice(),
            200,
        )
        .flatten(),
    );
    assert_eq!(http_raw(addr, &big).0, 431);
    assert_eq!(http_get(addr, "/healthz").0, 200);
    assert_eq!(http_get(addr, "/metrics").0, 200);
    assert_eq!(raw.cmd(&["PING"]), Frame::Simple("PONG".into()));
}

#[test]
fn hotkeys_after_hammering_one_key() {
    let s = start(&[]);
    let mut raw = s.raw();
    for i in 0..20 {
        raw.cmd(&["SET", &format!("cold:{i}"), "x"]);
    }
    raw.cmd(&["SET", "hot", "x"]);
    pipeline(&mut raw, &["GET", "hot"], 2000);
    let top = raw.cmd(&["HOTKEYS", "3"]);
    let top = array(&top);
    assert!(!top.is_empty() && top.len() <= 3, "{top:?}");
    let first = array(&top[0]);
    assert_eq!(bulk(&first[0]), "hot");
    // Sampled one in eight and scaled back: about 2000.
    let n = int(&first[1]);
    assert!((1000..=4000).contains(&n), "{n}");
    // Another database has its own list.
    raw.cmd(&["SELECT", "1"]);
    assert_eq!(raw.cmd(&["HOTKEYS"]), Frame::Array(vec![]));
    assert!(matches!(raw.cmd(&["HOTKEYS", "0"]), Frame::Error(_)));
}

#[test]
fn redis_cli_hotkeys_works_with_lfu() {
    let s = start(&["--maxmemory-policy", "allkeys-lfu"]);
    let mut raw = s.raw();
    for k in ["a", "b", "c", "hot"] {
        raw.cmd(&["SET", k, "x"]);
    }
    pipeline(&mut raw, &["GET", "hot"], 1000);
    let out = std::process::Command::new("redis-cli")
        .args([
            "-h",
            &s.addr.ip().to_string(),
            "-p",
            &s.addr.port().to_string(),
            "--hotkeys",
        ])
        .output()
        .expect("redis-cli on PATH (apt-get install redis-tools)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = text
        .split("-------- summary -------")
        .nth(1)
        .unwrap_or_else(|| panic!("no summary: {text}"));
    assert!(
        summary.contains("Sampled 4 keys in the keyspace!"),
        "{summary}"
    );
    let first = summary
        .lines()
        .find(|l| l.starts_with("hot key found"))
        .unwrap_or_else(|| panic!("{summary}"));
    assert!(
        first.ends_with("keyname: \"hot\""),
        "the hammered key comes first: {summary}"
    );
}

/// `key:value` fields of one INFO section.
fn info_fields(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.trim_end().split_once(':'))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

#[test]
fn info_raft_reports_the_group_of_one() {
    let s = start(&[]);
    let mut raw = s.raw();
    let before = info_fields(&info(&mut raw, "raft"));
    assert_eq!(before["raft_enabled"], "1");
    assert_eq!(before["state"], "leader");
    assert_eq!(before["leader_id"], before["node_id"]);
    assert_eq!(before["voters"], before["node_id"]);
    assert!(before["term"].parse::<u64>().unwrap() >= 1);
    for i in 0..20 {
        raw.cmd(&["SET", &format!("k{i}"), "v"]);
    }
    // Every write is a log entry that is applied before its reply.
    let after = info_fields(&info(&mut raw, "raft"));
    let idx = |m: &BTreeMap<String, String>, k: &str| m[k].parse::<u64>().unwrap();
    assert!(idx(&after, "last_log_index") >= idx(&before, "last_log_index") + 20);
    assert_eq!(
        idx(&after, "last_applied_index"),
        idx(&after, "last_log_index")
    );
    assert_eq!(after["apply_lag"], "0");
    // Not in the default set, as Redis's extra sections are not.
    assert!(!info(&mut raw, "").contains("# Raft"));
}
