//! Bad input gets Redis's error text (and a closed connection where Redis
//! closes it), the server keeps serving others, and memory stays bounded.

use std::time::Duration;

use lattice_testkit::{wait_until, Frame, RawClient};

use crate::{connect, info_field, start};

/// Sends `bytes`, expects one error reply starting with `prefix`, then EOF.
fn expect_error_then_close(raw: &mut RawClient, bytes: &[u8], expected: &str) {
    raw.send_raw(bytes).unwrap();
    assert_eq!(
        raw.read_frame().unwrap(),
        Some(Frame::Error(expected.into()))
    );
    assert_eq!(
        raw.read_frame().unwrap(),
        None,
        "connection must be closed after {expected}"
    );
}

#[test]
fn protocol_errors_close_the_connection_with_redis_text() {
    let s = start(&["--proto-max-bulk-len", "1mb"]);
    let cases: &[(&[u8], &str)] = &[
        (b"*abc\r\n", "ERR Protocol error: invalid multibulk length"),
        (
            b"*3000000000\r\n",
            "ERR Protocol error: invalid multibulk length",
        ),
        (b"*1\r\n:5\r\n", "ERR Protocol error: expected '$', got ':'"),
        (b"*1\r\n$-5\r\n", "ERR Protocol error: invalid bulk length"),
        (
            b"*1\r\n$2000000\r\n",
            "ERR Protocol error: invalid bulk length",
        ),
        (
            b"SET a \"unterminated\r\n",
            "ERR Protocol error: unbalanced quotes in request",
        ),
    ];
    for (bytes, expected) in cases {
        let mut raw = s.raw();
        expect_error_then_close(&mut raw, bytes, expected);
    }
    // A header line with no newline for more than 64 KiB.
    let mut raw = s.raw();
    let mut long = b"*".to_vec();
    long.extend(std::iter::repeat_n(b'1', 70 * 1024));
    expect_error_then_close(
        &mut raw,
        &long,
        "ERR Protocol error: too big mbulk count string",
    );
    let mut raw = s.raw();
    expect_error_then_close(
        &mut raw,
        &vec![b'a'; 70 * 1024],
        "ERR Protocol error: too big inline request",
    );
    // The server is still fine.
    let mut con = connect(&s);
    let pong: String = redis::cmd("PING").query(&mut con).unwrap();
    assert_eq!(pong, "PONG");
}

#[test]
fn random_garbage_never_kills_the_server() {
    let s = start(&[]);
    // Deterministic pseudo-random bytes (xorshift), biased toward RESP syntax.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for round in 0..50 {
        let mut bytes = Vec::new();
        for _ in 0..(64 + round * 40) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let b = match x % 8 {
                0 => b'*',
                1 => b'$',
                2 => b'\r',
                3 => b'\n',
                4 => b'0' + (x >> 8) as u8 % 10,
                _ => (x >> 16) as u8,
            };
            bytes.push(b);
        }
        let mut raw = s.raw();
        raw.send_raw(&bytes).ok();
        raw.send_raw(b"\r\nPING\r\n").ok();
        // Read until the server closes or answers; either is fine.
        let _ = raw.read_frame();
    }
    let mut raw = s.raw();
    assert_eq!(raw.cmd(&["PING"]), Frame::Simple("PONG".into()));
}

#[test]
fn values_over_proto_max_bulk_len_are_refused() {
    let s = start(&["--proto-max-bulk-len", "1mb"]);
    let mut raw = s.raw();
    let half = "x".repeat(600 * 1024);
    assert_eq!(raw.cmd(&["SET", "k", &half]), Frame::Simple("OK".into()));
    assert_eq!(
        raw.cmd(&["APPEND", "k", &half]),
        Frame::Error("ERR string exceeds maximum allowed size (proto-max-bulk-len)".into())
    );
    assert_eq!(
        raw.cmd(&["SETRANGE", "k", "2000000", "x"]),
        Frame::Error("ERR string exceeds maximum allowed size (proto-max-bulk-len)".into())
    );
    assert_eq!(raw.cmd(&["STRLEN", "k"]), Frame::Integer(600 * 1024));
}

#[test]
fn query_buffer_limit_closes_the_connection() {
    let s = start(&["--client-query-buffer-limit", "1mb"]);
    let mut raw = s.raw();
    // Announce a 3 MB argument and start sending it.
    raw.send_raw(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3000000\r\n")
        .unwrap();
    let chunk = vec![b'x'; 64 * 1024];
    let mut closed = false;
    for _ in 0..40 {
        if raw.send_raw(&chunk).is_err() {
            closed = true;
            break;
        }
    }
    if !closed {
        closed = matches!(raw.read_frame(), Ok(None) | Err(_));
    }
    assert!(
        closed,
        "connection must be closed past the query buffer limit"
    );
    let mut other = s.raw();
    assert_eq!(other.cmd(&["EXISTS", "k"]), Frame::Integer(0));
}

#[test]
fn hostile_multibulk_count_does_not_allocate() {
    let s = start(&[]);
    let mut con = connect(&s);
    let before = info_field(&mut con, "memory", "used_memory");
    let mut holders = Vec::new();
    for _ in 0..20 {
        let mut raw = s.raw();
        raw.send_raw(b"*2000000000\r\n$3\r\nSET\r\n").unwrap();
        holders.push(raw);
    }
    let mut probe = s.raw();
    assert_eq!(probe.cmd(&["PING"]), Frame::Simple("PONG".into()));
    let after = info_field(&mut con, "memory", "used_memory");
    assert!(
        after - before < 8 << 20,
        "used_memory grew from {before} to {after}"
    );
}

#[test]
fn a_client_that_never_reads_cannot_grow_server_memory() {
    let s = start(&[]);
    let mut con = connect(&s);
    let value = "v".repeat(100 * 1024);
    let _: () = redis::cmd("SET")
        .arg("big")
        .arg(&value)
        .query(&mut con)
        .unwrap();
    let before = info_field(&mut con, "memory", "used_memory");
    // 20 000 GETs of 100 KiB = 2 GB of replies, never read.
    let mut lazy = s.raw();
    let mut batch = Vec::new();
    for _ in 0..1000 {
        batch.extend(lattice_testkit::encode_command(&[b"GET", b"big"]));
    }
    let writer = std::thread::spawn(move || {
        for _ in 0..20 {
            if lazy.send_raw(&batch).is_err() {
                break;
            }
        }
        lazy
    });
    // Let the server fill the socket buffers, then measure.
    let mut peak = 0;
    let settled = wait_until(Duration::from_secs(2), || {
        let used = info_field(&mut con, "memory", "used_memory");
        peak = peak.max(used);
        false
    });
    assert!(!settled);
    assert!(
        peak - before < 64 << 20,
        "used_memory grew by {} bytes",
        peak - before
    );
    let pong: String = redis::cmd("PING").query(&mut con).unwrap();
    assert_eq!(pong, "PONG");
    drop(s);
    let _ = writer.join();
}

#[test]
fn command_errors_keep_the_connection() {
    let s = start(&[]);
    let mut raw = s.raw();
    raw.cmd(&["SET", "str", "abc"]);
    assert_eq!(
        raw.cmd(&["INCR", "str"]),
        Frame::Error("ERR value is not an integer or out of range".into())
    );
    assert_eq!(
        raw.cmd(&["SET", "k", "v", "EX", "soon"]),
        Frame::Error("ERR value is not an integer or out of range".into())
    );
    assert_eq!(
        raw.cmd(&["SET", "k", "v", "WHENEVER"]),
        Frame::Error("ERR syntax error".into())
    );
    assert_eq!(
        raw.cmd(&["GET"]),
        Frame::Error("ERR wrong number of arguments for 'get' command".into())
    );
    let long_name = "X".repeat(1000);
    let Frame::Error(e) = raw.cmd(&[&long_name, "a"]) else {
        panic!()
    };
    assert!(
        e.len() < 400,
        "unknown-command error is bounded: {} bytes",
        e.len()
    );
    assert_eq!(raw.cmd(&["PING"]), Frame::Simple("PONG".into()));
}
