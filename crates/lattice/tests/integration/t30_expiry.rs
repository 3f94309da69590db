//! Expiry: keys with a TTL disappear lazily (hidden at once) and actively (the
//! cron deletes them and counts `expired_keys`). Waits poll with a deadline.

use std::time::Duration;

use lattice_testkit::{wait_until, Frame};

use crate::{connect, info_field, start};

#[test]
fn active_expiry_deletes_and_counts() {
    let s = start(&["--hz", "100"]);
    let mut raw = s.raw();
    for i in 0..200 {
        raw.cmd(&["SET", &format!("k{i}"), "v", "PX", "30"]);
    }
    raw.cmd(&["SET", "keep", "v"]);
    let mut con = connect(&s);
    assert!(
        wait_until(Duration::from_secs(10), || info_field(
            &mut con,
            "stats",
            "expired_keys"
        ) == 200),
        "active expiry did not delete all keys"
    );
    assert_eq!(raw.cmd(&["DBSIZE"]), Frame::Integer(1));
}

#[test]
fn expired_keys_are_hidden_even_without_active_expiry() {
    let s = start(&[]);
    let mut raw = s.raw();
    assert_eq!(
        raw.cmd(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]),
        Frame::Simple("OK".into())
    );
    raw.cmd(&["SET", "k", "v", "PX", "20"]);
    assert!(wait_until(Duration::from_secs(5), || raw
        .cmd(&["GET", "k"])
        == Frame::Null));
    assert_eq!(raw.cmd(&["TTL", "k"]), Frame::Integer(-2));
    assert_eq!(raw.cmd(&["EXISTS", "k"]), Frame::Integer(0));
    // Not deleted yet: DBSIZE still counts it, as Redis does.
    assert_eq!(raw.cmd(&["DBSIZE"]), Frame::Integer(1));
    // A write touching it deletes it.
    assert_eq!(raw.cmd(&["SETNX", "k", "new"]), Frame::Integer(1));
    assert_eq!(raw.cmd(&["GET", "k"]), Frame::Bulk("new".into()));
    assert_eq!(
        raw.cmd(&["DEBUG", "SET-ACTIVE-EXPIRE", "1"]),
        Frame::Simple("OK".into())
    );
}

#[test]
fn ttl_semantics() {
    let s = start(&[]);
    let mut raw = s.raw();
    raw.cmd(&["SET", "k", "v", "EX", "100"]);
    assert_eq!(raw.cmd(&["TTL", "k"]), Frame::Integer(100));
    raw.cmd(&["SET", "k", "v2"]);
    assert_eq!(
        raw.cmd(&["TTL", "k"]),
        Frame::Integer(-1),
        "SET clears the TTL"
    );
    raw.cmd(&["EXPIRE", "k", "100"]);
    raw.cmd(&["SET", "k", "v3", "KEEPTTL"]);
    assert_eq!(raw.cmd(&["TTL", "k"]), Frame::Integer(100));
    raw.cmd(&["INCR", "counter"]);
    raw.cmd(&["EXPIRE", "counter", "100"]);
    raw.cmd(&["INCR", "counter"]);
    assert_eq!(
        raw.cmd(&["TTL", "counter"]),
        Frame::Integer(100),
        "INCR keeps the TTL"
    );
    raw.cmd(&["EXPIRE", "k", "-1"]);
    assert_eq!(
        raw.cmd(&["EXISTS", "k"]),
        Frame::Integer(0),
        "a past TTL deletes"
    );
}
