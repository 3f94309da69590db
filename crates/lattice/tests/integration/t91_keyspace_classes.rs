//! Keyspace-notification classes `m` (`keymiss`: a read found no key) and
//! `n` (`new`: a key was added), which `A` leaves out: the events Redis 7.0
//! publishes for the same commands, reads outside and inside MULTI included.

use lattice_testkit::{Frame, RawClient};

use crate::start;

fn bulk(s: &str) -> Frame {
    Frame::Bulk(s.to_string().into())
}

fn next(c: &mut RawClient) -> Frame {
    c.read_frame().unwrap().expect("connection closed")
}

fn pmessage(pattern: &str, channel: &str, msg: &str) -> Frame {
    Frame::Array(vec![
        bulk("pmessage"),
        bulk(pattern),
        bulk(channel),
        bulk(msg),
    ])
}

/// Expects the keyspace then the keyevent message of each (key, event).
fn expect_events(c: &mut RawClient, pattern: &str, events: &[(&str, &str)]) {
    for (key, event) in events {
        assert_eq!(
            next(c),
            pmessage(pattern, &format!("__keyspace@0__:{key}"), event)
        );
        assert_eq!(
            next(c),
            pmessage(pattern, &format!("__keyevent@0__:{event}"), key)
        );
    }
}

#[test]
fn keymiss_and_new_are_published_as_redis_does() {
    let s = start(&[]);
    let mut w = s.raw();
    assert_eq!(
        w.cmd(&["CONFIG", "SET", "notify-keyspace-events", "KEmn"]),
        Frame::Simple("OK".into())
    );
    assert_eq!(
        w.cmd(&["CONFIG", "GET", "notify-keyspace-events"]),
        Frame::Array(vec![bulk("notify-keyspace-events"), bulk("nKEm")])
    );
    let mut c = s.raw();
    c.cmd(&["PSUBSCRIBE", "__key*"]);
    // The sequence and the events redis-server 7.0.15 publishes for it.
    for cmd in [
        &["GET", "x"][..],
        &["SET", "x", "1"],
        &["EXISTS", "y", "x"],
        &["TYPE", "z"],
        &["MGET", "a", "x"],
        &["SUNIONSTORE", "d", "s1"],
        &["GETDEL", "q"],
        &["OBJECT", "ENCODING", "w"],
        &["LPUSH", "l", "1"],
        &["HGET", "h", "f"],
        &["SET", "x", "2", "GET"],
        &["GETEX", "g"],
        &["SCAN", "0"],
        &["TTL", "nokey"],
        &["DUMP", "nokey"],
        &["STRLEN", "nokey"],
        &["RENAME", "x", "x2"],
    ] {
        w.cmd(cmd);
    }
    expect_events(
        &mut c,
        "__key*",
        &[
            ("x", "keymiss"),
            ("x", "new"),
            ("y", "keymiss"),
            ("z", "keymiss"),
            ("a", "keymiss"),
            ("s1", "keymiss"),
            ("q", "keymiss"),
            ("l", "new"),
            ("h", "keymiss"),
            ("g", "keymiss"),
            ("nokey", "keymiss"),
            ("nokey", "keymiss"),
            ("nokey", "keymiss"),
            ("x2", "new"),
        ],
    );
}

#[test]
fn a_leaves_out_keymiss_and_new() {
    let s = start(&[]);
    let mut w = s.raw();
    w.cmd(&["CONFIG", "SET", "notify-keyspace-events", "KEA"]);
    let mut c = s.raw();
    c.cmd(&["PSUBSCRIBE", "*"]);
    w.cmd(&["GET", "nokey"]);
    w.cmd(&["SET", "fresh", "v"]);
    w.cmd(&["PUBLISH", "marker", "m"]);
    expect_events(&mut c, "*", &[("fresh", "set")]);
    assert_eq!(next(&mut c), pmessage("*", "marker", "m"));
    // `m` alone (with E) publishes only misses.
    w.cmd(&["CONFIG", "SET", "notify-keyspace-events", "Em"]);
    w.cmd(&["SET", "other", "v"]);
    w.cmd(&["GET", "gone"]);
    assert_eq!(
        next(&mut c),
        pmessage("*", "__keyevent@0__:keymiss", "gone")
    );
}

#[test]
fn reads_inside_multi_publish_keymiss() {
    let s = start(&[]);
    let mut w = s.raw();
    w.cmd(&["CONFIG", "SET", "notify-keyspace-events", "Emn"]);
    let mut c = s.raw();
    c.cmd(&["PSUBSCRIBE", "__keyevent*"]);
    // Reads only: run on the applied state, outside the log.
    w.cmd(&["MULTI"]);
    w.cmd(&["GET", "a"]);
    assert_eq!(w.cmd(&["EXEC"]), Frame::Array(vec![Frame::Null]));
    // Reads and writes: one batch through the log.
    w.cmd(&["MULTI"]);
    w.cmd(&["GET", "b"]);
    w.cmd(&["SET", "c", "1"]);
    w.cmd(&["EXEC"]);
    for (event, key) in [("keymiss", "a"), ("keymiss", "b"), ("new", "c")] {
        assert_eq!(
            next(&mut c),
            pmessage("__keyevent*", &format!("__keyevent@0__:{event}"), key)
        );
    }
}
